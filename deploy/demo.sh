#!/usr/bin/env bash
# `make demo`: the whole product on embedded defaults — SQLite, in-process bus, the packaged local
# LLM, the sample video. Everything it reads ships in sample_media/ (written by the project or taken
# from registry packages); nothing comes from ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLOORWATCH_CONFIG="${FLOORWATCH_CONFIG:-sample_media/floorwatch.yaml}"
export FLOORWATCH_STATE_DIR="${FLOORWATCH_STATE_DIR:-$PWD/var}"
FW=.venv/bin/floorwatch
OUT=var/demo/media/reports/demo  # under media.dir/reports/: the dashboard's Reports page lists it
start=$(date +%s)
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

rm -rf var/demo
step "1/6 database: apply migrations (SQLite at var/demo/floorwatch.db)"
$FW db upgrade

step "2/6 vision: replay sample_media/vtest.avi through detector, tracker, zone rules"
# The recording is dated into the week of the sample reports so one period holds both.
$FW replay sample_media/vtest.avi --camera dock-cam --start-time 2024-03-20T07:30:00Z --json > var/demo/alerts.jsonl
echo "$(wc -l < var/demo/alerts.jsonl) alert events -> var/demo/alerts.jsonl (snapshots and clips in var/demo/media)" >&2

step "3/6 incident reports: markdown/text files and a CSV log (PII redacted before the LLM)"
$FW ingest reports sample_media/incidents/*.md sample_media/incidents/*.txt
$FW ingest reports sample_media/incidents/weekly_log.csv --id-column report_no --text-column description \
  --time-column date --time-format '%d/%m/%Y %H:%M' --zone-column area

step "4/6 sensors: press-line pump log, fitted anomaly detector"
$FW ingest sensors sample_media/sensors/press_line_pump.csv --zone press_line --asset press-line-pump --sep ,

step "5/6 safety manuals: sections indexed for retrieval"
$FW ingest manuals sample_media/manuals/*.md

step "6/6 risk job: local LLM extraction per incident, per-zone assessment, HTML report"
$FW report --out "$OUT" --json > var/demo/report-summary.json

took=$(( $(date +%s) - start ))
cat >&2 <<MSG

Demo finished in ${took}s.
  Risk report:  $PWD/$OUT/report.html   (Markdown: $OUT/report.md, JSON: $OUT/report.json;
                also on the dashboard's Reports page)
  Dashboard:    FLOORWATCH_CONFIG=$FLOORWATCH_CONFIG .venv/bin/floorwatch serve --read-only
                then open http://127.0.0.1:8080/  (add FLOORWATCH_SERVE__TOKEN=<16+ chars> instead
                of --read-only to acknowledge / dismiss alerts)
MSG
