## center_within() and cluster_mean() against the hand computation with ave().

test_that("center_within and cluster_mean equal x - ave(x, g) and ave(x, g)", {
  set.seed(1)
  x <- rnorm(50)
  g <- sample(letters[1:7], 50, TRUE)
  # exact arithmetic of a mean and a difference: equal to rounding
  expect_equal(cluster_mean(x, g), ave(x, g), tolerance = 1e-14)
  expect_equal(center_within(x, g), x - ave(x, g), tolerance = 1e-14)
  expect_equal(center_within(x, g) + cluster_mean(x, g), x, tolerance = 1e-14)
  # within parts sum to zero in each cluster
  expect_equal(as.vector(tapply(center_within(x, g), g, sum)), rep(0, 7), tolerance = 1e-12)
  # a factor, an integer and a character grouping give the same clusters
  expect_identical(center_within(x, factor(g)), center_within(x, g))
  expect_identical(center_within(x, as.integer(factor(g))), center_within(x, g))
  # unused factor levels play no part
  expect_identical(center_within(x, factor(g, levels = c(letters[1:7], "z"))),
                   center_within(x, g))
  # logical x is the 0/1 indicator
  b <- x > 0
  expect_equal(center_within(b, g), as.numeric(b) - ave(as.numeric(b), g), tolerance = 1e-14)
})

test_that("nested clusters given as a list are their combinations", {
  set.seed(2)
  x <- rnorm(60)
  school <- rep(1:3, each = 20)
  class <- rep(rep(1:2, each = 10), 3)      # class 1 of school 1 is not class 1 of school 2
  expect_equal(center_within(x, list(school, class)), x - ave(x, school, class),
               tolerance = 1e-14)
  expect_equal(cluster_mean(x, data.frame(school, class)), ave(x, school, class),
               tolerance = 1e-14)
})

test_that("missing values: x NA keeps the cluster mean of the others, g NA gives NA", {
  x <- c(1, 2, NA, 10, 20, 30, 5)
  g <- c("a", "a", "a", "b", "b", NA, "c")
  m <- c(1.5, 1.5, 1.5, 15, 15, NA, 5)   # by hand
  expect_equal(cluster_mean(x, g), m)
  expect_equal(center_within(x, g), c(-0.5, 0.5, NA, -5, 5, NA, 0))
  # a cluster with no observed x: NA, not NaN
  out <- cluster_mean(c(NA, NA, 1), c("a", "a", "b"))
  expect_identical(out, c(NA, NA, 1))
  expect_false(any(is.nan(center_within(c(NA, NA, 1), c("a", "a", "b")))))
  # names are kept
  expect_identical(names(center_within(c(u = 1, v = 3), c(1, 1))), c("u", "v"))
})

test_that("bad inputs are errors naming the argument", {
  expect_error(center_within(factor(c("lo", "hi")), 1:2), "'x' is a factor.*x == \"lo\"")
  expect_error(center_within(c("1", "2"), 1:2), "'x' must be a numeric or logical vector, not character")
  expect_error(cluster_mean(matrix(1:4, 2), 1:2), "'x' must be.*matrix")
  expect_error(center_within(1:3, 1:2), "'g' has length 2, 'x' has length 3")
  expect_error(center_within(1:3, list(1:3, 1:2)), "'g' has length 2")
  expect_error(center_within(1:2, list(a = 1:2, b = list(1, 2))), "'g' must be")
  expect_error(center_within(c(1, Inf), 1:2), "'x' has infinite values")
  expect_error(center_within(1:2, list()), "'g' is empty")
})

test_that("centering inside an lmm() formula equals the hand-centered fit", {
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  d$days_w <- d$Days - ave(d$Days, d$Subject)
  d$noise <- sin(seq_len(nrow(d)))          # a level-1 covariate with cluster means != 0
  d$noise_w <- d$noise - ave(d$noise, d$Subject)
  d$noise_b <- ave(d$noise, d$Subject)
  fit <- lmm(Reaction ~ center_within(noise, Subject) + cluster_mean(noise, Subject) +
               (1 | Subject), d)
  ref <- lme4::lmer(Reaction ~ noise_w + noise_b + (1 | Subject), d)
  # lme4's optimum against lemma's: fixed effects agree to the optimizers' tolerance
  expect_equal(unname(fixef(fit)), unname(lme4::fixef(ref)), tolerance = 1e-5)
})
