//! `join_all`: runs futures side by side and waits for every one, their
//! outputs in order (the core takes no executor or futures crate).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Polls every future of `futures` until all are done; returns their
/// outputs in the order given.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (f, slot) in pending.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(
                out.iter_mut()
                    .map(|o| o.take().expect("every one done"))
                    .collect(),
            )
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_testkit::block_on;

    /// Pending once (waking itself), then ready with `v`.
    async fn later(v: u32) -> u32 {
        let mut first = true;
        std::future::poll_fn(|cx| {
            if std::mem::take(&mut first) {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        v
    }

    #[test]
    fn every_output_in_order() {
        assert_eq!(
            block_on(join_all(vec![later(1), later(2), later(3)])),
            [1, 2, 3]
        );
        assert!(block_on(join_all(Vec::<std::future::Ready<u8>>::new())).is_empty());
    }
}
