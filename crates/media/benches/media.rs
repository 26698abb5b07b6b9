//! Throughput benchmarks of the media core.
use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("timestamp_rescale", |b| {
        b.iter(|| media::Timestamp::new(std::hint::black_box(123_456), 90_000).rescale(1000))
    });
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
