#!/usr/bin/env bash
# Starts and stops a throw-away OpenLDAP slapd for the tests, loaded with
# the 恒远商业银行 directory (tests/ldap/hengyuan.ldif).
#
#   tests/ldap/slapd.sh start DIR PORT [OWNER_PID]
#       Writes DIR/slapd.conf (back_mdb, schemas core/cosine/nis/inetorgperson),
#       loads the LDIF into DIR/db with slapadd, starts /usr/sbin/slapd on
#       ldap://127.0.0.1:PORT/ as the current user (it daemonizes; its pid is in
#       DIR/slapd.pid) and waits until ldapsearch gets an answer (10 s at most).
#       With OWNER_PID, slapd is also killed once that process is gone (a test
#       that crashed before it could call stop does not leave slapd behind).
#   tests/ldap/slapd.sh stop DIR
#       Stops it (TERM, then KILL after 5 s) and removes the pid file.
#
# Works as root and as any other user (PORT must then be above 1023).
# Exit status 0 on success; on failure a message on stderr and DIR/slapd.log.
# SLAPD / SLAPADD override the binaries: on Ubuntu, AppArmor confines
# /usr/sbin/slapd to its own directories; there run `sudo aa-complain
# /usr/sbin/slapd` or point SLAPD at a copy of the binary.
set -euo pipefail

SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
SCHEMA_DIR=${SCHEMA_DIR:-/etc/ldap/schema}
MODULE_DIR=${MODULE_DIR:-/usr/lib/ldap}
HERE=$(cd "$(dirname "$0")" && pwd)
SUFFIX="dc=hengyuan,dc=example"
ROOT_DN="cn=admin,$SUFFIX"
SVC_DN="cn=atrium-svc,ou=services,$SUFFIX"
export LDAPNOINIT=1 # ignore ldap.conf and ~/.ldaprc: the fixture is self-contained

die() {
    echo "slapd.sh: $*" >&2
    exit 1
}

hash_pw() {
    slappasswd -h '{SSHA}' -s "$1" || die "slappasswd failed"
}

write_conf() {
    local dir=$1
    local modline=""
    # Debian builds back_mdb as a module; other builds link it in.
    if [ -e "$MODULE_DIR/back_mdb.la" ] || [ -e "$MODULE_DIR/back_mdb.so" ]; then
        modline="modulepath $MODULE_DIR
moduleload back_mdb"
    fi
    cat >"$dir/slapd.conf" <<CONF
# Written by tests/ldap/slapd.sh: a throw-away directory for the tests.
include $SCHEMA_DIR/core.schema
include $SCHEMA_DIR/cosine.schema
include $SCHEMA_DIR/nis.schema
include $SCHEMA_DIR/inetorgperson.schema
$modline
pidfile $dir/slapd.pid
argsfile $dir/slapd.args

database mdb
maxsize 16777216
suffix "$SUFFIX"
rootdn "$ROOT_DN"
rootpw $(hash_pw 'Root#2024pw')
directory $dir/db
index objectClass eq
index uid,member,memberUid eq

# Passwords: only for binding. Groups and people: readable by the service
# account, by any signed-in user and (for the anonymous-search test) by
# anonymous clients.
access to attrs=userPassword
    by anonymous auth
    by self auth
    by * none
access to *
    by dn.exact="$SVC_DN" read
    by users read
    by anonymous read
CONF
}

load_ldif() {
    local dir=$1 line pw
    # Replace each "userPassword: {CLEAR}x" by a salted hash of x.
    while IFS= read -r line || [ -n "$line" ]; do
        if [[ $line == "userPassword: {CLEAR}"* ]]; then
            pw=${line#"userPassword: {CLEAR}"}
            printf 'userPassword: %s\n' "$(hash_pw "$pw")"
        else
            printf '%s\n' "$line"
        fi
    done <"$HERE/hengyuan.ldif" >"$dir/data.ldif"
    "$SLAPADD" -q -f "$dir/slapd.conf" -b "$SUFFIX" -l "$dir/data.ldif" >"$dir/slapadd.log" 2>&1 ||
        die "slapadd failed: $(cat "$dir/slapadd.log")"
}

answers() {
    ldapsearch -x -H "ldap://127.0.0.1:$1/" -o nettimeout=1 -l 1 -b "" -s base -LLL \
        namingContexts >/dev/null 2>&1
}

start() {
    local dir=$1 port=$2 owner=${3:-}
    [ -x "$SLAPD" ] || die "$SLAPD not found (install the slapd package)"
    [ -x "$SLAPADD" ] || die "$SLAPADD not found (install the slapd package)"
    command -v ldapsearch >/dev/null || die "ldapsearch not found (install ldap-utils)"
    command -v slappasswd >/dev/null || die "slappasswd not found (install slapd)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/slapd.pid" ] || die "$dir/slapd.pid exists: stop it first"
    rm -rf "$dir/db"
    mkdir -p "$dir/db"
    write_conf "$dir"
    load_ldif "$dir"
    # Without -d slapd detaches and writes its pid file; -s 0: no syslog noise.
    "$SLAPD" -h "ldap://127.0.0.1:$port/" -f "$dir/slapd.conf" -s 0 >"$dir/slapd.log" 2>&1 ||
        die "slapd did not start (AppArmor? see the top of this script): $(cat "$dir/slapd.log")"
    local i
    for ((i = 0; i < 200; i++)); do
        if [ -s "$dir/slapd.pid" ] && answers "$port"; then
            break
        fi
        sleep 0.05
    done
    if ! answers "$port"; then
        stop "$dir" || true
        die "slapd on port $port does not answer after 10 s (see $dir/slapd.log)"
    fi
    if [ -n "$owner" ]; then
        local pid
        pid=$(cat "$dir/slapd.pid")
        # A watcher in a session of its own (a kill of the test's process
        # group must not take it along) and detached from our stdio.
        setsid "$HERE/$(basename "$0")" watch "$dir" "$pid" "$owner" </dev/null >/dev/null 2>&1 &
    fi
}

# Is pid a live process (a zombie waiting for its reaper counts as gone)?
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null || echo "?")
    [ "$state" != "Z" ]
}

# Kills slapd (pid, started with DIR's config) once owner is gone, even if
# DIR was removed meanwhile. The command line check guards against a
# recycled pid.
watch() {
    local dir=$1 pid=$2 owner=$3
    while alive "$owner" && alive "$pid"; do
        sleep 1
    done
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $dir/slapd.conf"; then
        kill "$pid" 2>/dev/null || true
    fi
}

stop() {
    local dir=$1 pid i
    [ -e "$dir/slapd.pid" ] || return 0
    pid=$(cat "$dir/slapd.pid")
    rm -f "$dir/slapd.pid"
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || return 0
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
start)
    [ $# -ge 3 ] || die "usage: slapd.sh start DIR PORT [OWNER_PID]"
    start "$2" "$3" "${4:-}"
    ;;
stop)
    [ $# -ge 2 ] || die "usage: slapd.sh stop DIR"
    stop "$2"
    ;;
watch) # internal: see start
    [ $# -ge 4 ] || die "usage: slapd.sh watch DIR PID OWNER_PID"
    watch "$2" "$3" "$4"
    ;;
*)
    die "usage: slapd.sh start DIR PORT [OWNER_PID] | stop DIR"
    ;;
esac
