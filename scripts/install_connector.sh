#!/usr/bin/env bash
# Install a published Airbyte Python connector (from PyPI) into its own virtualenv.
#
#   scripts/install_connector.sh source-faker 7.2.1 [DEST_ROOT]
#
# installs `airbyte-source-faker==7.2.1` into DEST_ROOT/source-faker (default
# .cache/connectors/source-faker under the repository root) and prints the path of its
# executable, DEST_ROOT/source-faker/bin/source-faker, on stdout (progress goes to stderr).
# Connectors pin airbyte-cdk, so each gets its own virtualenv, never the project's.
# CONNECTOR_PINS adds requirements installed with it (space-separated), for a connector
# whose loose pins resolve to a CDK it does not work with, e.g.
#   CONNECTOR_PINS="airbyte-cdk[file-based]==6.45.0" scripts/install_connector.sh source-s3 4.13.5
#
# Idempotent: when the venv already holds that version (its marker file, written once the
# executable has answered `spec`) and its interpreter runs, nothing is installed. An
# unfinished install (interrupted, other version) has no matching marker and is removed
# and redone. Concurrent runs are serialized with a lock file. Uses uv when it is on PATH (about 4x faster), else
# python -m venv + pip. PYTHON picks the venv's interpreter (default python3.11/python3).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 CONNECTOR VERSION [DEST_ROOT]   e.g. $0 source-faker 7.2.1" >&2
    exit 2
fi
name=$1
version=$2
if [[ ! $name =~ ^(source|destination)-[a-z0-9-]+$ ]]; then
    echo "error: connector name '$name' must look like source-<name> or destination-<name>" >&2
    exit 2
fi
if [[ ! $version =~ ^[0-9][0-9A-Za-z.+!-]*$ ]]; then
    echo "error: '$version' is not a version" >&2
    exit 2
fi
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest_root=${3:-$repo_root/.cache/connectors}
dest=$dest_root/$name
package=airbyte-$name
executable=$dest/bin/$name
pins=${CONNECTOR_PINS:-}
wanted="$package==$version${pins:+ $pins}"
marker=$dest/.installed-version

mkdir -p "$dest_root"
exec 9>"$dest_root/.$name.lock"
flock 9

# the marker is written only once the executable has answered `spec`
installed() {
    [[ -f $marker && $(cat "$marker") == "$wanted" && -x $executable ]] \
        && "$dest/bin/python" -c "" >/dev/null 2>&1
}

if installed; then
    echo "$executable"
    exit 0
fi

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
echo "installing $wanted into $dest" >&2
rm -rf "$dest"
# shellcheck disable=SC2086 # the pins are words
uv=$(command -v uv || { [[ -x $HOME/.local/bin/uv ]] && echo "$HOME/.local/bin/uv"; } || true)
if [[ -n $uv ]]; then
    "$uv" venv --quiet --python "$python" "$dest" >&2
    "$uv" pip install --quiet --python "$dest/bin/python" "$package==$version" $pins >&2
else
    "$python" -m venv "$dest" >&2
    "$dest/bin/pip" install --quiet --disable-pip-version-check "$package==$version" $pins >&2
fi
# The file-based CDK downloads NLTK data when it is imported, for document parsing; offline
# every command then waits on the network (~20 s). Empty archives where NLTK looks first
# (the venv's nltk_data) stop the download; the parsers that would use them stay unused.
if [[ -d $dest/lib ]] && compgen -G "$dest/lib/python3*/site-packages/nltk" >/dev/null; then
    mkdir -p "$dest/nltk_data/tokenizers"
    for data in punkt punkt_tab averaged_perceptron_tagger_eng; do
        [[ -f $dest/nltk_data/tokenizers/$data.zip ]] || "$dest/bin/python" -c \
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').close()" \
            "$dest/nltk_data/tokenizers/$data.zip"
    done
fi
if [[ ! -x $executable ]]; then
    echo "error: $package==$version installed no executable $executable" >&2
    exit 1
fi
# with bytecode writing on, whatever PYTHONDONTWRITEBYTECODE says: the modules `spec` loads
# are the ones discover and read load, and compiling them again at every start cost more
# than the run itself (source-s3: 8 CPU-seconds a start instead of 3)
if ! env -u PYTHONDONTWRITEBYTECODE "$executable" spec >/dev/null; then
    echo "error: $executable does not answer spec" >&2
    exit 1
fi
# written last: its presence means the install finished
echo "$wanted" >"$marker"
echo "$executable"
