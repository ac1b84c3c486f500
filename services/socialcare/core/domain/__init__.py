"""The shared domain: what every service means by a case, a channel, a topic and the care
organisation. Pure (no I/O beyond reading the care config file), so the gateway and the
services that judge cases apply the same rules."""
