"""Model zoo: SparseZoo-style stubs, a local zoo with model cards, and verified downloads."""
