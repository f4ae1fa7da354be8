extension Duration {
    /// Whole milliseconds, clamped to `Int32`: librdkafka's timeout arguments. Sub-millisecond parts are dropped;
    /// durations past `Int32.max` milliseconds (24.8 days) are clamped.
    var clampedMilliseconds: Int32 {
        let (seconds, overflow) = components.seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return components.seconds < 0 ? .min : .max }
        return Int32(clamping: seconds + components.attoseconds / 1_000_000_000_000_000)
    }
}
