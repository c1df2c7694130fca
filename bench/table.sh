#!/bin/bash
# table.sh RESULTS.tsv [...]: issue 10's table (markdown, on stdout) from
# fsbench.sh / workloads.sh figures: per system the median over its runs, then
# godfs goal 3 against the best peer of the same run and the target.
#
# Columns: godfs-g3, godfs-g1, moosefs-g3, gluster-r3, local-ext4, then any
# other system found, in the order of first appearance. "Best peer" is the
# better of moosefs-g3 and gluster-r3 on that line (higher for rates, lower
# for latency and memory); for the real workloads it is local-ext4 (the
# target there is a time within 3x of the local disk's). "vs" is godfs-g3's
# figure divided by the reference, so above 1 is better for rates and below
# 1 is better for times, latency and memory. "met" says whether the line
# reaches issue 10's target; "-" where it has none or a figure is missing.
# The client's peak RSS is VmHWM of the FUSE client at the end of a run
# (rss_peak_client; rss_peak_mount and rss_peak_mfsmount in older files).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 RESULTS.tsv [...]" >&2; exit 2; }
cat "$@" | grep -v '^#' | awk -F'\t' '
# metric | label | higher is better (1) or lower (0) | reference (peer,
# local, abs, none) | target figure | target text
BEGIN {
	nr = split("md_create|md_create ops/s|1|peer|2|>= 2x;" \
		"md_stat|md_stat ops/s|1|peer|3|>= 3x;" \
		"md_readdir|md_readdir entries/s|1|peer|1.5|>= 1.5x;" \
		"md_unlink|md_unlink ops/s|1|peer|2|>= 2x;" \
		"smallfile_write|smallfile_write files/s|1|peer|3|>= 3x;" \
		"smallfile_read|smallfile_read files/s|1|peer|2|>= 2x;" \
		"smallfile_unlink|smallfile_unlink files/s|1|peer|2|>= 2x;" \
		"randwrite_4k_iops|randwrite_4k IOPS|1|peer|2|>= 2x;" \
		"randread_4k_iops|randread_4k IOPS|1|peer|1.5|>= 1.5x;" \
		"randread_4k_lat_p99|randread_4k p99 us|0|peer|1|<= peer;" \
		"seq_write_1M|seq_write_1M MiB/s|1|none|0|no worse than before;" \
		"seq_read_1M_cold|seq_read_1M_cold MiB/s|1|none|0|no worse than before;" \
		"rss_peak_client|client peak RSS MiB|0|abs|100|<= 100 MiB;" \
		"wl_cp_include|cp -a /usr/include s|0|local|3|<= 3x ext4;" \
		"wl_sqlite|SQLite s|0|local|3|<= 3x ext4;" \
		"wl_build|configure, make, make check s|0|local|3|<= 3x ext4", rows, ";")
	for (i = 1; i <= nr; i++) {
		split(rows[i], f, "|")
		key[i] = f[1]; name[i] = f[2]; hi[i] = f[3]; ref[i] = f[4]; tv[i] = f[5]; tt[i] = f[6]
	}
	ns = split("godfs-g3 godfs-g1 moosefs-g3 gluster-r3 local-ext4", order, " ")
	for (s = 1; s <= ns; s++) known[order[s]] = 1
	np = split("moosefs-g3 gluster-r3", peers, " ")
}
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
function fmt(x) { return (x >= 100 || x == int(x)) ? sprintf("%.0f", x) : sprintf("%.1f", x) }
function med(sys, m,   k, c, j, v) {
	k = sys SUBSEP m; c = cnt[k]
	if (!c) return ""
	for (j = 1; j <= c; j++) v[j] = val[k, j]
	sort(v, c)
	return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
}
NF >= 4 {
	sys = $1; sub(/\/run[0-9]+$/, "", sys)
	m = $2
	if (m ~ /^rss_peak_(mount|mfsmount|glusterfs)$/) m = "rss_peak_client"
	if (!(sys in known)) { known[sys] = 1; order[++ns] = sys }
	seen[sys] = 1
	if (m == "harness_elapsed") runs[sys]++
	k = sys SUBSEP m; cnt[k]++; val[k, cnt[k]] = $3 + 0
}
END {
	printf "| metric |"
	for (s = 1; s <= ns; s++) if (order[s] in seen) printf " %s |", order[s]
	printf " godfs-g3 vs best peer | target | met |\n|---|"
	for (s = 1; s <= ns; s++) if (order[s] in seen) printf "---|"
	printf "---|---|---|\n"
	for (i = 1; i <= nr; i++) {
		any = 0
		for (s = 1; s <= ns; s++) if (cnt[order[s] SUBSEP key[i]]) any = 1
		if (!any) continue
		printf "| %s |", name[i]
		for (s = 1; s <= ns; s++) {
			if (!(order[s] in seen)) continue
			x = med(order[s], key[i])
			printf " %s |", x == "" ? "-" : fmt(x)
		}
		g = med("godfs-g3", key[i]); r = ""; vs = "-"; met = "-"
		if (ref[i] == "peer" || ref[i] == "none") {
			for (p = 1; p <= np; p++) {
				x = med(peers[p], key[i])
				if (x == "") continue
				if (r == "" || (hi[i] ? x > r : x < r)) r = x
			}
		} else if (ref[i] == "local") {
			r = med("local-ext4", key[i])
		}
		if (g != "" && r != "" && r > 0) vs = sprintf("%.2fx", g / r)
		if (g != "") {
			if (ref[i] == "abs") met = (g <= tv[i]) ? "yes" : "no"
			else if (ref[i] != "none" && r != "" && r > 0)
				met = (hi[i] ? g / r >= tv[i] : g / r <= tv[i]) ? "yes" : "no"
		}
		printf " %s | %s | %s |\n", vs, tt[i], met
	}
	printf "\nRuns per system:"
	for (s = 1; s <= ns; s++) if (order[s] in seen) printf " %s %d;", order[s], runs[order[s]]
	printf " figures are medians.\n"
}'
