#!/usr/bin/env bash
# QuickFIX for the FIX tests: Debian's libquickfix-doc (QuickFIX's prebuilt example acceptors,
# executor and ordermatch, gzipped), libquickfix17 (the library they need) and libquickfix-dev
# (the headers the scripted acceptor in tests/support/fix_acceptor is built against), installed
# when missing; the programs are unpacked into a folder that is printed, for
# TRADELOOP_QUICKFIX_DIR. Run by .ci/run; safe to run again.
set -euo pipefail
log() { echo "quickfix: $*" >&2; }
examples=/usr/share/doc/libquickfix-doc/examples
executor_gz=$examples/executor/C++/.libs/executor.gz
ordermatch_gz=$examples/ordermatch/.libs/ordermatch.gz
if [ ! -f "$executor_gz" ] || [ ! -f "$ordermatch_gz" ] \
        || ! dpkg-query -W -f='${Status}' libquickfix-dev 2>/dev/null | grep -q 'ok installed' \
        || ! command -v g++ >/dev/null 2>&1; then
    log "installing Debian's libquickfix-doc, libquickfix17, libquickfix-dev and g++"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq libquickfix-doc libquickfix17 libquickfix-dev g++ >&2
fi
dir=${TRADELOOP_QUICKFIX_DIR:-/tmp/tradeloop-quickfix}
mkdir -p "$dir"
for pair in "executor:$executor_gz" "ordermatch:$ordermatch_gz"; do
    name=${pair%%:*}
    source=${pair#*:}
    if [ ! -x "$dir/$name" ] || [ "$source" -nt "$dir/$name" ]; then
        tmp=$(mktemp "$dir/.$name.XXXXXX")
        gunzip -c "$source" >"$tmp"
        chmod 755 "$tmp"
        mv -f "$tmp" "$dir/$name"
    fi
    # without a settings file the program prints its usage and exits 0; a missing library fails
    "$dir/$name" >/dev/null 2>&1 || { log "$dir/$name does not run"; exit 1; }
done
echo "$dir"
