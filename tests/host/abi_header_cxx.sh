#!/bin/sh
# Compiles and runs abi_header_c99.c as C++ (the header's extern "C" guards and inline helpers).
# Exit 77 (skip) when no C++ compiler is installed.
CXX=${CXX:-c++}
command -v "$CXX" >/dev/null 2>&1 || exit 77
out=$(mktemp) || exit 1
"$CXX" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$1" -x c++ "$2" -o "$out" && "$out"
rc=$?
rm -f "$out"
exit $rc
