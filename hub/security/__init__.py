"""Security adapters: password hashing, JWT access tokens, casbin authorization."""
