"""Sample and test tooling kept out of the product: the fake school curator, the demo story (`svod demo`) and the
reliability corpus (`svod reliability`). The CLI imports these lazily; the pipeline never does."""
