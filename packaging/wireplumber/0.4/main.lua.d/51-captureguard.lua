-- captureguard (WirePlumber 0.4, Debian 12): defence in depth behind the udev rule.
-- PipeWire must not offer real cameras: only the "captureguard-camera" node made by
-- `captureguard publish` (and the v4l2loopback device, which carries only guarded frames).

-- libcamera cameras are not guarded yet: do not load the monitor at all.
libcamera_monitor.enabled = false

-- V4L2: disable every device, then re-enable the virtual (loopback) ones. Rules apply in order.
table.insert(v4l2_monitor.rules, {
  matches = { { { "device.name", "matches", "v4l2_device.*" } } },
  apply_properties = { ["device.disabled"] = true },
})
table.insert(v4l2_monitor.rules, {
  matches = { { { "device.sysfs.path", "matches", "/devices/virtual/*" } } },
  apply_properties = { ["device.disabled"] = false },
})
