"""Operations: metrics, rules hot reload, web endpoints. Imports no Faust at module level."""
