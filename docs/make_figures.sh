#!/usr/bin/env bash
# Regenerates the pictures in docs/: a dashboard screenshot of a quickstart study's trial
# page (headless Chromium) and the report's figures. Needs Debian's chromium.
#   bash docs/make_figures.sh [STORAGE_URL]   (default: a fresh 8-trial quickstart study)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
url=${1:-}
if [ -z "$url" ]; then
  url="sqlite:///$work/study.db"
  tricksearch run studies/quickstart.toml --storage "$url" --n-trials 8 --quiet \
    --set train.epochs=4 --set finetune.epochs=2 --device cpu
fi
port=8765
tricksearch dashboard --storage "$url" --port $port > "$work/dash.log" 2>&1 &
dash=$!
trap 'kill $dash 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/meta" >/dev/null && break; sleep 0.2; done
# The trial with the most restarts makes the best picture.
read -r study_id trial_id trial_number < <(python - "$port" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
s = json.load(urllib.request.urlopen(f"{base}/api/studies"))["study_summaries"][0]
d = json.load(urllib.request.urlopen(f"{base}/api/studies/{s['study_id']}"))
def restarts(t):
    attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
    return len(json.loads(attrs.get("restarts", "[]"))), t["state"] == "Complete"
t = max(d["trials"], key=restarts)
print(s["study_id"], t["trial_id"], t["number"])
PY
)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/chrome" --window-size=1400,1500 --virtual-time-budget=10000 \
  --screenshot=docs/dashboard_trial.png \
  "http://127.0.0.1:$port/dashboard/studies/$study_id/trials?numbers=$trial_number" 2>/dev/null
python - "$port" "$study_id" "$trial_id" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
d = json.load(urllib.request.urlopen(f"{base}/api/studies/{sys.argv[2]}"))
t = next(t for t in d["trials"] if t["trial_id"] == int(sys.argv[3]))
for a in t["artifacts"]:
    if a["filename"].endswith(".png"):
        data = urllib.request.urlopen(f"{base}/artifacts/{sys.argv[2]}/{t['trial_id']}/{a['artifact_id']}").read()
        open(f"docs/trial_{a['filename']}", "wb").write(data)
PY
name=$(tricksearch studies --storage "$url" --json | python -c "import json,sys; print(json.load(sys.stdin)[0]['name'])")
tricksearch report --storage "$url" --study "$name" --output "$work/report" --device cpu >/dev/null
cp "$work/report/history.png" docs/report_history.png
cp "$work/report/finetune_gain.png" docs/report_finetune_gain.png
cp "$work/report/best_per_class.png" docs/report_best_per_class.png
sed -e 's/](history.png)/](report_history.png)/' -e 's/](finetune_gain.png)/](report_finetune_gain.png)/' \
  -e 's/](best_per_class.png)/](report_best_per_class.png)/' "$work/report/report.md" > docs/example_report.md
ls -la docs/*.png
