#!/bin/sh
# SPDX-License-Identifier: MIT
# check_spdx.sh [SRCDIR] — every source file of the project (C, headers, CMake,
# shell, Python, the .def/.map/.in files the build reads, and any script with a #!
# line) carries "SPDX-License-Identifier: MIT" in its first three lines. Lists the
# files that lack it and exits 1. Files come from `git ls-files` in a checkout and
# from find(1) in an unpacked tarball; build directories and third_party/ (code we
# did not write keeps its own licence) are skipped.
cd "${1:-$(dirname "$0")/../..}" || exit 2
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files --cached --others --exclude-standard)
else
    files=$(find . -path './build*' -prune -o -path './.git' -prune -o -type f -print | sed 's|^\./||')
fi
bad=0 n=0
for f in $files; do
    [ -f "$f" ] || continue
    case "$f" in
        build*/*|third_party/*|*/third_party/*) continue ;;
        *.c|*.cc|*.h|*.sh|*.py|*.cmake|*.in|*.def|*.map|CMakeLists.txt|*/CMakeLists.txt) ;;
        *) head -c 2 "$f" | grep -q '^#!' || continue ;;
    esac
    n=$((n + 1))
    if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
        [ $bad -eq 0 ] && echo "check_spdx: these files lack 'SPDX-License-Identifier: MIT' in their first three lines:"
        echo "  $f"
        bad=$((bad + 1))
    fi
done
if [ $bad -ne 0 ]; then
    echo "check_spdx: $bad of $n source files lack the line (add it as the first line, after a #! line if any)"
    exit 1
fi
echo "check_spdx: all $n source files carry SPDX-License-Identifier: MIT"
