#!/bin/sh
# Every strategy plugin exports exactly one dynamic symbol: dstrat_entry_v1.
# usage: check_exports.sh plugin.so...
status=0
for so in "$@"; do
    syms=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort)
    if [ "$syms" != "dstrat_entry_v1" ]; then
        echo "FAIL $so exports: $(echo $syms | tr '\n' ' ')"
        status=1
    else
        echo "ok   $so exports only dstrat_entry_v1"
    fi
done
[ $# -gt 0 ] || { echo "no plugins given"; status=1; }
exit $status
