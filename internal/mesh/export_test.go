package mesh

// GossipConfig is the memberlist configuration Start uses, for the simulation's arithmetic.
var GossipConfig = config
