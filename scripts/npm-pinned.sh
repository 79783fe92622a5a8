# Sourced by scripts/azurite.sh and scripts/duckdb.sh: install a pinned npm
# package, every dependency locked, into a folder of .tools (never globally).
#
#   npm_pinned_install TOOL PACKAGE@VERSION SRC DEST FILE...
#     checks that Node 20 or later and npm are there, copies FILE... (the
#     package.json, its package-lock.json, any script) from SRC into DEST,
#     and runs npm ci there. Messages go to stderr, prefixed with TOOL.

npm_pinned_install() {
	local tool="$1" pkg="$2" src="$3" dest="$4"
	shift 4
	command -v node >/dev/null || { echo "$tool: node is not installed ($pkg needs Node 20 or later)" >&2; exit 1; }
	command -v npm >/dev/null || { echo "$tool: npm is not installed" >&2; exit 1; }
	local major
	major="$(node -p 'process.versions.node.split(".")[0]')"
	if ((major < 20)); then
		echo "$tool: Node $(node --version) is too old; $pkg needs Node 20 or later" >&2
		exit 1
	fi
	mkdir -p "$dest"
	local f
	for f in "$@"; do
		cp "$src/$f" "$dest/"
	done
	echo "$tool: installing $pkg into $dest" >&2
	(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
}
