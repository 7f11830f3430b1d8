"""Party state storage: the state's encoding (`state.party`), the key-value interface it is
stored through (`state.types`), the one crash-consistency protocol (`state.store.PartyStore`)
and the in-memory back end (`state.memory`). No engine import here: the worker's RocksDB back
end lives in `tables/`."""
