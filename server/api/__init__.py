"""HTTP views. Each module holds a blueprint; the factory registers them all."""
