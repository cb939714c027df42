#!/usr/bin/env bash
# Point data/raw/<name> at a dataset without copying it into the project (research-use terms forbid that).
# Order: the environment variable, then ../shared/datasets/<name> beside the checkout, then a folder already there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data/raw
status=0
link() {  # name, environment variable, folder under ../shared/datasets, required (1/0)
  local name=$1 var=$2 shared=$3 required=$4 dest="data/raw/$1" target="${!2:-}"
  if [ -z "$target" ] && [ -d "../shared/datasets/$shared" ]; then target="$(cd "../shared/datasets/$shared" && pwd)"; fi
  if [ -n "$target" ]; then
    [ -d "$target" ] || { echo "link-data: $var=$target is not a folder" >&2; status=1; return; }
    if [ -e "$dest" ] && [ ! -L "$dest" ]; then echo "link-data: $dest exists and is not a link; leaving it" >&2; return; fi
    ln -sfn "$target" "$dest"
    echo "link-data: $dest -> $target"
  elif [ -e "$dest" ]; then
    echo "link-data: using $dest"
  elif [ "$required" = 1 ]; then
    echo "link-data: no $name dataset found. Set $var=/path/to/it, or unpack it to $dest." >&2
    echo "           See params.yaml (datasets.$name.where_to_get_it) for where to download it." >&2
    status=1
  else
    echo "link-data: no $name dataset found (set $var); its stages will fail until it is there." >&2
  fi
}
link fer2013 MESHFER_DATA fer2013 1
link eyes MESHFER_EYES_DATA eyes 0
link eyes_fer MESHFER_EYES_FER_DATA eyes_fer 0
exit $status
