//! A room's members split into shards, so a room of any size is read and
//! delivered in parallel: each connection belongs to one of [`ROOM_SHARDS`]
//! shards of its room (`lobby#3`), keyed in the table's shard index, so each
//! delivery worker reads its own partition (one room key holding 100,000
//! members would be one hot partition).

/// Shards per room. Every room has them all; a small room's are just small.
pub const ROOM_SHARDS: u16 = 16;

/// The shard a connection belongs to: a stable hash of its id (FNV-1a).
pub fn shard_of(connection_id: &str) -> u16 {
    let hash = connection_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    (hash % u64::from(ROOM_SHARDS)) as u16
}

/// The shard index's key for a room's shard: `{room}#{shard}`.
pub fn room_shard(room: &str, shard: u16) -> String {
    format!("{room}#{shard}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_spread_over_every_shard_and_stay_in_theirs() {
        let mut counts = [0usize; ROOM_SHARDS as usize];
        for i in 0..16_000 {
            counts[shard_of(&format!("R0oXAdfD{i:06}=")) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        assert_eq!(shard_of("abc="), shard_of("abc="));
        assert_eq!(room_shard("lobby", 3), "lobby#3");
    }
}
