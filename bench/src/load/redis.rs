//! Redis alone, the floor of a cluster broadcast: a PUBLISH heard by a
//! subscriber, one at a time (round trips) and pipelined (throughput), as
//! tsrpc-redis publishes.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

/// What Redis alone did.
#[derive(Clone, Debug)]
pub(crate) struct RedisFloor {
    /// PUBLISH until the subscriber has it, one at a time.
    pub(crate) round_trips: Vec<Duration>,
    /// Messages per second, published in pipelines of 256 as tsrpc-redis
    /// does, until the subscriber has the last.
    pub(crate) per_sec: f64,
}

/// Measures `round_trips` single PUBLISHes and then `count` pipelined
/// ones, each carrying `size` bytes, on a channel of the Redis at `url`.
pub(crate) async fn redis_floor(
    url: &str,
    size: usize,
    round_trips: usize,
    count: usize,
) -> Result<RedisFloor, String> {
    let failed = |e: redis::RedisError| e.to_string();
    let client = redis::Client::open(url).map_err(failed)?;
    let mut publisher = client
        .get_multiplexed_async_connection()
        .await
        .map_err(failed)?;
    let mut subscriber = client.get_async_pubsub().await.map_err(failed)?;
    let channel = "tsrpc-bench:floor";
    subscriber.subscribe(channel).await.map_err(failed)?;
    let mut heard = subscriber.into_on_message();
    let payload = vec![b'x'; size];
    let stall = Duration::from_secs(20);

    let mut times = Vec::with_capacity(round_trips);
    for _ in 0..round_trips {
        let start = Instant::now();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(&payload)
            .query_async::<i64>(&mut publisher)
            .await
            .map_err(failed)?;
        tokio::time::timeout(stall, heard.next())
            .await
            .map_err(|_| "the subscriber heard nothing".to_owned())?
            .ok_or("the subscription ended")?;
        times.push(start.elapsed());
    }

    let start = Instant::now();
    let listen = async {
        for _ in 0..count {
            heard.next().await.ok_or("the subscription ended")?;
        }
        Ok::<(), String>(())
    };
    let publish = async {
        let mut left = count;
        while left > 0 {
            let batch = left.min(256);
            let mut pipe = redis::pipe();
            for _ in 0..batch {
                pipe.cmd("PUBLISH").arg(channel).arg(&payload).ignore();
            }
            pipe.query_async::<()>(&mut publisher)
                .await
                .map_err(failed)?;
            left -= batch;
        }
        Ok::<(), String>(())
    };
    tokio::time::timeout(stall, async {
        let (listened, published) = tokio::join!(listen, publish);
        listened.and(published)
    })
    .await
    .map_err(|_| format!("{count} messages were not all heard within {stall:?}"))??;
    Ok(RedisFloor {
        round_trips: times,
        per_sec: count as f64 / start.elapsed().as_secs_f64(),
    })
}
