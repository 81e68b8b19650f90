"""asyncvla_refiner package."""
