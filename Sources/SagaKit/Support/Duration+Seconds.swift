extension Duration {
    /// The duration in seconds, for arithmetic with clocks and databases that speak seconds.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
