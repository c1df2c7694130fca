#!/usr/bin/env python3
"""Checks observability/grafana-godfs.json (tests/observability/rules.sh and
tests/e2e/e2e_alerts.sh).

  dashboard.py DASHBOARD                 the JSON parses, is a Grafana
                                         dashboard (unique panel ids, every
                                         panel placed and queried through the
                                         datasource variable), and prints the
                                         metric names its queries use
  dashboard.py DASHBOARD SCRAPE...       also: every one of those metrics is
                                         in one of the scrapes (Prometheus
                                         text files); with --except PREFIX,
                                         metrics of that prefix may be absent;
                                         --names-from FILE adds every godfs_*
                                         name in FILE (the alert rules)
Exit 0 when all is well, 1 with the reasons otherwise."""
import json
import re
import sys

# A metric name in PromQL: not a function, keyword, label or duration.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "irate", "by", "without", "on",
    "ignoring", "group_left", "group_right", "or", "and", "unless", "histogram_quantile",
    "vector", "absent", "bool", "offset", "topk", "bottomk", "le", "time",
}


def metric_names(expr):
    # drop label matchers {...} and quoted strings, then take identifiers
    # not followed by '(' and not PromQL words
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = m.group(0)
        rest = expr[m.end():].lstrip()
        if word in PROMQL_WORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


def base_name(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_dashboard(path):
    errors = []
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dash:
            errors.append(f"no {key}")
    ids = set()
    exprs = []
    for p in dash.get("panels", []):
        if p.get("id") in ids:
            errors.append(f"panel id {p.get('id')} twice")
        ids.add(p.get("id"))
        gp = p.get("gridPos", {})
        if not all(k in gp for k in ("h", "w", "x", "y")) or gp["x"] + gp["w"] > 24:
            errors.append(f"panel {p.get('title')!r}: bad gridPos {gp}")
        if p.get("type") == "row":
            continue
        if not p.get("targets"):
            errors.append(f"panel {p.get('title')!r} has no query")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"panel {p.get('title')!r}: query not through $datasource")
            if not t.get("expr"):
                errors.append(f"panel {p.get('title')!r}: empty query")
            exprs.append(t.get("expr", ""))
    names = set()
    for e in exprs:
        names |= metric_names(e)
    return errors, names


def scraped_names(paths):
    names = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def main(argv):
    excepted = []
    extra = set()
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--except":
            excepted.append(argv[i + 1])
            i += 2
        elif argv[i] == "--names-from":
            with open(argv[i + 1], encoding="utf-8") as f:
                extra |= set(re.findall(r"\bgodfs_[a-z0-9_]+", f.read()))
            i += 2
        else:
            args.append(argv[i])
            i += 1
    errors, names = check_dashboard(args[0])
    names |= extra
    if not names:
        errors.append("no metric queried")
    for n in sorted(names):
        if not (n.startswith("godfs_") or n.startswith("process_")):
            errors.append(f"{n}: not a godfs or process metric (a typo?)")
    if len(args) > 1:
        have = scraped_names(args[1:])
        for n in sorted(names):
            if any(n.startswith(p) for p in excepted):
                continue
            if n not in have and base_name(n) + "_count" not in have and n + "_total" not in have:
                errors.append(f"{n}: queried by the dashboard, in no scrape")
    for e in errors:
        print(f"dashboard.py: {e}", file=sys.stderr)
    if not errors:
        print(" ".join(sorted(names)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
