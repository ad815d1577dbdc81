#!/bin/sh
# SPDX-License-Identifier: MIT
# halo-tune end to end on one host: it writes a file for 3 local ranks (one line
# per ring neighbour pair), and allreduce_bw --model with HALO_TUNE_FILE prices
# with that file's numbers (INFO line and the "# model:" header, whose alpha must
# be the file's largest); a file of another host and a malformed one are WARNed
# about and the model keeps its defaults, and the job still runs.
# usage: check_tune.sh HALO_TUNE ALLREDUCE_BW
set -u
tune=$1 bw=$2 fail=0
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
conf=$dir/tune.conf
no() { echo "FAIL: $*"; fail=1; }

"$tune" -n 3 -o "$conf" >"$dir/tune.out" 2>&1 || { cat "$dir/tune.out"; no "halo-tune -n 3 exited $?"; exit 1; }
grep -q '^format = halo-tune 1$' "$conf" || no "no format line in $conf"
grep -q '^transport = shm$' "$conf" || no "transport is not shm"
[ "$(grep -c '^link = ' "$conf")" = 3 ] || no "expected 3 link lines (ring of 3 ranks)"
cat "$conf"

# the model's alpha is the largest alpha_us of the file, printed with one decimal
alpha=$(sed -n 's/.* alpha_us=\([0-9.e+-]*\) .*/\1/p' "$conf" | sort -g | tail -1)
want=$(printf '%.1f' "$alpha")
run() { HALO_TUNE_FILE=$1 HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=TOPO "$bw" -n 3 -b 1m -e 1m -w 1 -i 1 --model 2>&1; }
out=$(run "$conf") || no "allreduce_bw with the file exited $?"
echo "$out" | grep 'cost model tuned\|# model:'
echo "$out" | grep -q "INFO TOPO cost model tuned from $conf: alpha $want us" || no "no INFO line with alpha $want us"
echo "$out" | grep -q "^# model: shm, one host of 3: alpha $want us, .*tuned from $conf\$" ||
    no "the --model header does not show alpha $want us tuned from $conf"

# measured on another host: WARN, defaults
sed 's/^hosts = .*/hosts = not-this-host/' "$conf" >"$dir/other.conf"
out=$(run "$dir/other.conf") || no "allreduce_bw with another host's file exited $?"
echo "$out" | grep 'WARN'
echo "$out" | grep -q "HALO_TUNE_FILE=$dir/other.conf not used: it was measured on not-this-host" ||
    no "no WARN naming the other host"
echo "$out" | grep -q '^# model: .*defaults (not tuned)$' || no "another host's file was used"

# malformed: WARN with the line, defaults
printf 'format = halo-tune 1\nhosts = a\nlink = oops\n' >"$dir/bad.conf"
out=$(run "$dir/bad.conf") || no "allreduce_bw with a malformed file exited $?"
echo "$out" | grep -q "HALO_TUNE_FILE=$dir/bad.conf not used: line 3: link needs two ends" ||
    no "no WARN naming line 3 of the malformed file"
echo "$out" | grep -q '^# model: .*defaults (not tuned)$' || no "a malformed file was used"

# missing
out=$(run "$dir/none.conf") || no "allreduce_bw with a missing file exited $?"
echo "$out" | grep -q "HALO_TUNE_FILE=$dir/none.conf not used: cannot open it" || no "no WARN for a missing file"
[ $fail = 0 ] && echo "ok: halo-tune end to end"
exit $fail
