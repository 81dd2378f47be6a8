# Atrium build. `make` builds build/atrium; `make test` installs dependencies,
# builds everything and runs every test (what CI runs). See README.md.
#
# BUILD=dir puts objects elsewhere (helpers working in parallel use their own).

BUILD    ?= build
ASAN     ?= $(BUILD)/asan
CC       ?= cc
PKGS     := sqlite3 libmicrohttpd jansson libcurl icu-uc icu-i18n opencc libsodium \
            libxml-2.0 libzip poppler-glib ldap lber
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS := -std=c11 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Isrc $(PKG_CFLAGS)
CFLAGS   ?= -O2 -g
LDLIBS   := $(PKG_LIBS) -lpthread -lm
SANFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

SRCS      := $(sort $(wildcard src/*/*.c))
MAIN_SRC  := src/cli/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRC),$(SRCS))
TEST_SRCS := $(sort $(wildcard tests/unit/*.c))

OBJS      := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TOBJS     := $(TEST_SRCS:%.c=$(BUILD)/%.o)
AOBJS     := $(LIB_SRCS:%.c=$(ASAN)/%.o)
ATOBJS    := $(TEST_SRCS:%.c=$(ASAN)/%.o)

# The built-in agent templates (templates/agents/**) as C data, generated
# and #included by src/agents/templates.c (see templates.h), in both builds.
TPL_FILES := $(sort $(shell find templates/agents -type f 2>/dev/null))
TPL_GEN   := $(BUILD)/gen/templates_data.c

.PHONY: all test check unit unit-asan api fuzz-smoke bench demo format clean deps web

all: $(BUILD)/atrium

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

$(ASAN)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-ASAN $<"
	@$(CC) $(CPPFLAGS) $(SANFLAGS) $(WARN) -MMD -MP -c $< -o $@

$(TPL_GEN): tools/gen_templates.sh $(TPL_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@sh tools/gen_templates.sh templates/agents > $@.tmp && mv $@.tmp $@

$(BUILD)/src/agents/templates.o $(ASAN)/src/agents/templates.o: $(TPL_GEN)
$(BUILD)/src/agents/templates.o $(ASAN)/src/agents/templates.o: CPPFLAGS += -I$(BUILD)/gen

$(BUILD)/libatrium.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/atrium: $(BUILD)/$(MAIN_SRC:.c=.o) $(BUILD)/libatrium.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit_tests: $(TOBJS) $(BUILD)/libatrium.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Benchmark drivers (bench/*.c) link the library like the tool does.
$(BUILD)/%_bench: bench/%_bench.c $(BUILD)/libatrium.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $^ $(LDLIBS)

$(ASAN)/atrium: $(ASAN)/$(MAIN_SRC:.c=.o) $(AOBJS)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(ASAN)/unit_tests: $(ATOBJS) $(AOBJS)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

deps:
	scripts/install-deps.sh

# The web portal (docs/WEB.md): npm ci when node_modules is missing or older
# than package-lock.json, then the Vite build into web/dist (served by
# `atrium serve`; the browser tests of `make check` need it).
web:
	@if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then \
		cd web && npm ci --no-audit --no-fund && touch node_modules; fi
	cd web && npx vite build --logLevel warn

# What the README and CI call: install, build, run everything.
test: deps
	$(MAKE) check

check: $(BUILD)/atrium $(BUILD)/unit_tests $(ASAN)/unit_tests $(ASAN)/atrium web
	tests/run-all.sh $(BUILD) $(ASAN)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

demo: deps $(BUILD)/atrium web
	scripts/demo.sh $(BUILD)/atrium

format:
	clang-format -i $(SRCS) $(TEST_SRCS) $(wildcard src/*/*.h tests/unit/*.h fuzz/*.c bench/*.c)

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(TOBJS:.o=.d) $(AOBJS:.o=.d) $(ATOBJS:.o=.d) \
         $(BUILD)/$(MAIN_SRC:.c=.d) $(ASAN)/$(MAIN_SRC:.c=.d)
