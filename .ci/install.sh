# Sourced by .ci/app and .ci/test: install only what is missing, so a second run is quick.

install_python() {  # usage: install_python requirements.txt [more files...]
    local missing
    missing=$(python3 .ci/missing.py "$@")
    if [ -n "$missing" ]; then
        echo "Installing Python packages:" $missing
        local args=()
        for f in "$@"; do args+=(-r "$f"); done
        python3 -m pip install --disable-pip-version-check --quiet "${args[@]}"
    fi
}

install_chromium() {  # Debian's Chromium, driven by Playwright in the browser tests
    command -v chromium >/dev/null 2>&1 && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "Installing chromium (apt-get)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}
