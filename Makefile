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

.PHONY: all test check unit unit-asan api fuzz-smoke bench demo format clean deps

all: $(BUILD)/atrium

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

$(ASAN)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-ASAN $<"
	@$(CC) $(CPPFLAGS) $(SANFLAGS) $(WARN) -MMD -MP -c $< -o $@

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

# What the README and CI call: install, build, run everything.
test: deps
	$(MAKE) check

check: $(BUILD)/atrium $(BUILD)/unit_tests $(ASAN)/unit_tests $(ASAN)/atrium
	tests/run-all.sh $(BUILD) $(ASAN)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

demo: deps $(BUILD)/atrium
	scripts/demo.sh $(BUILD)/atrium

format:
	clang-format -i $(SRCS) $(TEST_SRCS) $(wildcard src/*/*.h tests/unit/*.h fuzz/*.c bench/*.c)

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(TOBJS:.o=.d) $(AOBJS:.o=.d) $(ATOBJS:.o=.d) \
         $(BUILD)/$(MAIN_SRC:.c=.d) $(ASAN)/$(MAIN_SRC:.c=.d)
