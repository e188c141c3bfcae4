"""What happens to a value between the source and the Secret: JSON properties, re-encryption."""
