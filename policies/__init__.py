"""casbin model and base policy (roles to permissions); role assignments live in the database."""

from pathlib import Path

POLICY_DIR = Path(__file__).parent
MODEL_PATH = POLICY_DIR / "model.conf"
BASE_POLICY_PATH = POLICY_DIR / "base_policy.csv"
