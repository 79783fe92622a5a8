#!/usr/bin/env bash
# Azurite, the Azure Storage emulator, for the blob sink tests and for
# trying blob exports by hand. Pinned to azurite@3.35.0 (the last release
# that runs on Node 20) with every dependency locked in
# scripts/azurite/package-lock.json; installed into .tools/azurite
# (gitignored), never globally.
#
#   scripts/azurite.sh install   install (or check) it; prints the binary
#   scripts/azurite.sh bin       print the binary's path (fails if not installed)
#   scripts/azurite.sh status    say whether the blob tests could find it
#                                (make test prints this last)
#   scripts/azurite.sh start     run it in the foreground on 127.0.0.1:10000
#                                (AZURITE_PORT to change), in memory, and
#                                print the connection string to use
#
# Tests start their own Azurite on a free port; they find it through
# AZURITE_BIN or in .tools/azurite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.tools/azurite"
bin="$dir/node_modules/.bin/azurite-blob"
want=3.35.0
# shellcheck source=npm-pinned.sh
. "$root/scripts/npm-pinned.sh"

# The well-known development account of the emulator (public, not a secret).
conn="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:${AZURITE_PORT:-10000}/devstoreaccount1;"

installed() {
	[[ -x "$bin" ]] && [[ "$(node -p "require('$dir/node_modules/azurite/package.json').version" 2>/dev/null)" == "$want" ]] &&
		cmp -s "$root/scripts/azurite/package-lock.json" "$dir/package-lock.json"
}

install() {
	if installed; then
		echo "$bin"
		return
	fi
	npm_pinned_install azurite "azurite@$want" "$root/scripts/azurite" "$dir" package.json package-lock.json
	installed || { echo "azurite: installed, but $bin is not azurite $want" >&2; exit 1; }
	echo "$bin"
}

case "${1:-}" in
install)
	install
	;;
bin)
	installed || { echo "azurite: not installed; run scripts/azurite.sh install" >&2; exit 1; }
	echo "$bin"
	;;
status)
	# The tests look in AZURITE_BIN, .tools/azurite, then PATH.
	if [[ -n "${AZURITE_BIN:-}" && -x "${AZURITE_BIN}" ]] || installed || command -v azurite-blob >/dev/null; then
		echo "Azurite: found; the Azure Blob tests ran."
	else
		echo "NOTE: Azurite is not installed, so the Azure Blob tests were SKIPPED."
		echo "      Install it with 'scripts/azurite.sh install' (needs Node 20 and npm), or run .ci/run."
	fi
	;;
start)
	install >/dev/null
	echo "AZURE_STORAGE_CONNECTION_STRING='$conn'" >&2
	exec "$bin" --blobHost 127.0.0.1 --blobPort "${AZURITE_PORT:-10000}" --inMemoryPersistence \
		--skipApiVersionCheck --disableTelemetry --silent
	;;
*)
	echo "usage: $0 install|bin|status|start" >&2
	exit 2
	;;
esac
