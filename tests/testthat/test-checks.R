# The shared argument checkers name the function and the argument at fault.
test_that("checkers name the function and argument", {
  chk <- lemma:::check_dots_unused
  expect_warning(chk(list(foo = 1), "predict"), "predict\\(\\): argument 'foo' is not supported")
  expect_error(chk(list(1, b = 2), "f", error = TRUE), "arguments '<unnamed argument 1>', 'b'")
  expect_true(chk(list(), "f"))
  expect_error(lemma:::check_flag(NA, "REML", "lmm"), "lmm\\(\\): 'REML' must be TRUE or FALSE")
  expect_error(lemma:::check_flag(c(TRUE, FALSE), "REML", "lmm"), "'REML'")
  expect_error(lemma:::check_flag("yes", "REML", "lmm"), "'REML'")
  expect_identical(lemma:::check_choice("Kenw", c("Satterthwaite", "Kenward-Roger"), "ddf", "f"), "Kenward-Roger")
  expect_error(lemma:::check_choice("x", c("a", "b"), "type", "f"), "'type' = \"x\" is not one of \"a\", \"b\"")
  expect_error(lemma:::check_number(0, "nsim", "confint", lower = 1, integer = TRUE), "'nsim' must be a single finite whole number >= 1")
  expect_error(lemma:::check_number(Inf, "x", "f"), "'x' must be a single finite number")
  expect_identical(lemma:::check_number(2, "x", "f", 1, 3), 2)
})
