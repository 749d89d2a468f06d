//! In-container init (`mew supervise`): signals, reaping, output tee.
