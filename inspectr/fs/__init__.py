"""Layer indexes and the union Tree built from them."""
