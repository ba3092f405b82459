"""Authentication: device-bound sessions with short access and rotating refresh tokens."""
