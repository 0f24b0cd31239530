"""Package forensics: inventories, file checks against package databases, SBOM checks."""
