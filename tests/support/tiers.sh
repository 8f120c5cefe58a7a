#!/usr/bin/env bash
# `make test`'s tiers in order, each timed as it ends (a line in TIMES, and all of them at the
# end): tiers.sh TIMES TIER…, where a TIER is make goals, run in order, with their variables
# ("fuzz FUZZ_SECONDS=20", "lint unit"), and "A + B + …" runs A, B, … side by side, each one's
# output shown when it ends. Stops after the first tier that fails.
set -u
times=$1
shift
: >"$times"

# What the disk holding the checkout has left: the guest and boot tiers' disks are sparse, but
# what an install writes is not, and a full disk fails a tier with ENOSPC far from its cause.
free_disk() {
	df -BG --output=avail . | awk 'NR == 2 { print "disk free: " $1 }'
}

# A tier's name: its goals, without their variables.
name() {
	local w goals=()
	for w in $1; do [[ $w == *=* ]] || goals+=("$w"); done
	echo "${goals[*]}"
}

tier() {
	local start rc t
	start=$(date +%s)
	# shellcheck disable=SC2086 # the goal and its variables are separate words
	make --no-print-directory $1
	rc=$?
	t=$(($(date +%s) - start))
	echo "tier $(name "$1"): $((t / 60)) min $((t % 60)) s$([ $rc = 0 ] || echo ', FAILED'); $(free_disk)" | tee -a "$times"
	return $rc
}

side_by_side() {
	local -A logs=()
	local job id rc failed=0
	for job in "$@"; do
		tier "$job" >"build/tier-${job%% *}.log" 2>&1 &
		logs[$!]="build/tier-${job%% *}.log"
	done
	while [ ${#logs[@]} -gt 0 ]; do
		wait -n -p id
		rc=$?
		cat "${logs[$id]}"
		unset "logs[$id]"
		[ $rc = 0 ] || failed=1
	done
	return $failed
}

echo "start: $(free_disk)" | tee -a "$times"
for t in "$@"; do
	if [[ $t == *" + "* ]]; then
		lanes=()
		while [[ $t == *" + "* ]]; do
			lanes+=("${t%% + *}")
			t=${t#* + }
		done
		side_by_side "${lanes[@]}" "$t" || exit 1
	else
		tier "$t" || exit 1
	fi
done
echo "== tier times"
cat "$times"
