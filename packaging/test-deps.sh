#!/bin/sh
# Install what the chokepoint tests need (Debian; idempotent; only as root, else explain the skip).
need=""
for pair in pipewire:pipewire wireplumber:wireplumber pw-dump:pipewire-bin gst-launch-1.0:gstreamer1.0-tools \
            dbus-run-session:dbus-bin udevadm:udev systemd-analyze:systemd setpriv:util-linux; do
  command -v "${pair%%:*}" >/dev/null || need="$need ${pair#*:}"
done
gst-inspect-1.0 pipewiresink >/dev/null 2>&1 || need="$need gstreamer1.0-pipewire"
gst-inspect-1.0 videoconvert >/dev/null 2>&1 || need="$need gstreamer1.0-plugins-base"
gst-inspect-1.0 rawvideoparse >/dev/null 2>&1 || need="$need gstreamer1.0-plugins-base"
dpkg -s dbus-user-session >/dev/null 2>&1 || need="$need dbus-user-session"
dpkg -s gstreamer1.0-plugins-good >/dev/null 2>&1 || need="$need gstreamer1.0-plugins-good"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "chokepoint tests need:$need; installing (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
else
  echo "missing$need and this is not root: the PipeWire chokepoint tests will be skipped" \
       "(sudo apt-get install$need)"
fi
