library(testthat)
library(lemma)
test_check("lemma")
