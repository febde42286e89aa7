"""What every stage shares: params, errors, the model registry, stage set-up, files, texts."""
