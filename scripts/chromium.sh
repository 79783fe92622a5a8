#!/usr/bin/env bash
# Chromium, headless, for the tests that open report.html as a person
# would (internal/chromium): from Debian's packages (apt-get install
# chromium), the one source of a browser this project's machines reach.
#
#   scripts/chromium.sh install   install it if missing (as root, or with
#                                 sudo); prints the browser's path
#   scripts/chromium.sh bin       print the browser's path (fails if none)
#   scripts/chromium.sh status    say whether the browser tests could find
#                                 it (make test prints this last)
#
# Tests find it through CHROMIUM_BIN, else /usr/lib/chromium/chromium (the
# browser behind Debian's launcher script), else chromium on PATH; without
# it they skip, unless CHROMIUM_REQUIRED=1 (as .ci/run sets it).
set -euo pipefail

find_bin() {
	if [[ -n "${CHROMIUM_BIN:-}" && -x "${CHROMIUM_BIN}" ]]; then
		echo "$CHROMIUM_BIN"
	elif [[ -x /usr/lib/chromium/chromium ]]; then
		echo /usr/lib/chromium/chromium
	elif command -v chromium >/dev/null; then
		command -v chromium
	elif command -v chromium-browser >/dev/null; then
		command -v chromium-browser
	else
		return 1
	fi
}

install() {
	if bin="$(find_bin)"; then
		echo "$bin"
		return
	fi
	local sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null || { echo "chromium: not installed, and installing needs root (apt-get install chromium)" >&2; exit 1; }
		sudo=(sudo)
	fi
	# Quiet unless it fails: apt's progress would bury the CI log.
	local log
	log="$(mktemp)"
	if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "chromium: apt-get install chromium failed" >&2
		exit 1
	fi
	rm -f "$log"
	find_bin || { echo "chromium: installed, but no browser found" >&2; exit 1; }
}

case "${1:-}" in
install)
	install
	;;
bin)
	find_bin || { echo "chromium: not installed; run scripts/chromium.sh install" >&2; exit 1; }
	;;
status)
	if find_bin >/dev/null; then
		echo "Chromium: found; the browser tests of report.html ran."
	else
		echo "NOTE: Chromium is not installed, so the browser tests of report.html were SKIPPED."
		echo "      Install it with 'scripts/chromium.sh install' (apt-get, as root), or run .ci/run."
	fi
	;;
*)
	echo "usage: $0 install|bin|status" >&2
	exit 2
	;;
esac
