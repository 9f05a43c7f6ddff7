## Formula shapes lme4 accepts (issue 8): each is read as lme4 reads it (compared
## with lme4 live) or refused with a message naming the term.
##
## Tolerances: criteria 1e-6 relative and fixed effects 1e-4 relative on the SE
## scale -- both optimizers stop within ~1e-6 of the criterion's optimum on these
## small, well-conditioned sleepstudy models (test-lme4-agreement.R uses the same
## scale). A formula that lemma reads the same way as another formula is compared
## with lemma's fit of that formula exactly (the same numbers go to the optimizer).

ss <- sleepstudy

lme4_fit <- function(f, data = ss, REML = TRUE)
  suppressWarnings(suppressMessages(lme4::lmer(f, data, REML = REML)))

expect_same_fit <- function(fit, ref) {
  crit <- if (lme4::isREML(ref)) lme4::REMLcrit(ref) else deviance(ref)
  expect_close(if (isREML(fit)) REMLcrit(fit) else deviance(fit), crit, rel = 1e-6, label = "criterion")
  se <- sqrt(diag(as.matrix(vcov(ref))))
  expect_close(fixef(fit), lme4::fixef(ref), abs = 1e-4 * se, label = "fixef")
}

strip_env <- function(f) { environment(f) <- NULL; attributes(f) <- NULL; f }

test_that("(x || g) is stored expanded, as lme4 stores it, and update() removes one piece", {
  skip_if_not_installed("lme4")
  fit <- lmm(Reaction ~ Days + (Days || Subject), ss)
  ref <- lme4::lmer(Reaction ~ Days + (Days || Subject), ss)
  expect_identical(strip_env(formula(fit)), strip_env(formula(ref)))
  expect_identical(deparse1(formula(fit)), "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))")
  up <- update(fit, . ~ . - (0 + Days | Subject))
  up_ref <- suppressMessages(update(ref, . ~ . - (0 + Days | Subject)))
  expect_identical(strip_env(formula(up)), strip_env(formula(up_ref)))
  expect_length(up$theta, 1L)
  expect_same_fit(up, up_ref)
  ## the formula of a fit can be fitted again
  again <- lmm(formula(fit), ss)
  expect_equal(REMLcrit(again), REMLcrit(fit), tolerance = 1e-10)
})

test_that("formula(fit) is lme4's for nesting, interactions and plain terms", {
  skip_if_not_installed("lme4")
  for (f in list(Reaction ~ Days + (Days | Subject), strength ~ 1 + (1 | batch/cask),
                 diameter ~ (1 | plate) + (1 | sample), Reaction ~ Days + (1 + Days || Subject))) {
    data <- if ("strength" %in% all.vars(f)) Pastes else if ("diameter" %in% all.vars(f)) Penicillin else ss
    expect_identical(strip_env(formula(lmm(f, data))), strip_env(formula(lme4_fit(f, data))))
  }
})

test_that("double parentheses around random-effect terms are read as lme4 reads them", {
  skip_if_not_installed("lme4")
  expect_same_fit(lmm(Reaction ~ Days + ((1 | Subject)), ss), lme4_fit(Reaction ~ Days + ((1 | Subject))))
  fit <- lmm(Reaction ~ Days + ((Days || Subject)), ss)
  expect_identical(lapply(fit$reterms$terms, `[[`, "cnms"), list("(Intercept)", "Days"))
  expect_same_fit(fit, lme4_fit(Reaction ~ Days + ((Days || Subject))))
  ## a '-1' after a random-effect term removes the intercept, as lm() reads it
  expect_same_fit(lmm(Reaction ~ (1 | Subject) + Days - 1, ss), lme4_fit(Reaction ~ (1 | Subject) + Days - 1))
})

test_that("a formula given as a string is fitted as lme4 fits it", {
  skip_if_not_installed("lme4")
  fit <- lmm("Reaction ~ Days + (Days | Subject)", ss)
  expect_s3_class(formula(fit), "formula")
  expect_same_fit(fit, lme4_fit("Reaction ~ Days + (Days | Subject)"))
  expect_error(lmm("Reaction ~ Days + (Days | ", ss), "'formula' \\(a string\\) is not a formula")
})

test_that("'.' in the fixed part means every other column, as in lme4", {
  skip_if_not_installed("lme4")
  d <- ss
  d$z <- sin(seq_len(nrow(d)))
  fit <- lmm(Reaction ~ . - Subject + (1 | Subject), d)
  ref <- lme4_fit(Reaction ~ . - Subject + (1 | Subject), d)
  expect_identical(names(fixef(fit)), c("(Intercept)", "Days", "z"))
  expect_same_fit(fit, ref)
  ## the stored formula names the columns, so that update() works (lme4's keeps the
  ## '.', and its update() then fails: "'.' in formula and no 'data' argument")
  expect_identical(deparse1(formula(fit)), "Reaction ~ Days + z + (1 | Subject)")
  expect_error(update(ref, . ~ . - z), "'.' in formula and no 'data' argument")
  expect_same_fit(update(fit, . ~ . - z), lme4_fit(Reaction ~ Days + (1 | Subject), d))
  expect_error(lmm(Reaction ~ . + (1 | Subject)), "'.' in the formula needs the 'data' argument")
})

test_that("random-effect terms under -, *, :, %in% are refused naming the term", {
  ## lme4 1.1-31 collects these terms and drops the operator (x * (1 | g) is fitted as
  ## x + (1 | g), x - (1 | g) with the term): what is fitted is not what is written.
  expect_error(lmm(Reaction ~ Days - (1 | Subject), ss), "term \\(1 \\| Subject\\) is subtracted")
  expect_error(lmm(Reaction ~ Days + (1 | Subject) - (0 + Days | Subject), ss),
               "term \\(0 \\+ Days \\| Subject\\) is subtracted")
  expect_error(lmm(Reaction ~ Days * (1 | Subject), ss), "term \\(1 \\| Subject\\) is an operand of '\\*'")
  expect_error(lmm(Reaction ~ Days:(1 | Subject), ss), "term \\(1 \\| Subject\\) is an operand of ':'")
  expect_error(lmm(Reaction ~ Days %in% (1 | Subject), ss), "term \\(1 \\| Subject\\) is an operand of '%in%'")
  expect_error(lmm(Reaction ~ (Days || Subject) * Days, ss), "term \\(Days \\|\\| Subject\\) is an operand of '\\*'")
  ## what lme4 does with them (documented in the messages)
  skip_if_not_installed("lme4")
  plus <- lme4::REMLcrit(lme4_fit(Reaction ~ Days + (1 | Subject)))
  for (f in list(Reaction ~ Days * (1 | Subject), Reaction ~ Days:(1 | Subject), Reaction ~ Days - (1 | Subject)))
    expect_equal(lme4::REMLcrit(lme4_fit(f)), plus, tolerance = 1e-12)
  ## a `|` inside a function call is R's logical or, a fixed effect (as in lm())
  d <- transform(ss, hi = Days > 6, lo = Days < 2)
  fit <- lmm(Reaction ~ I(hi | lo) + (1 | Subject), d)
  expect_identical(names(fixef(fit)), c("(Intercept)", "I(hi | lo)TRUE"))
})

test_that("as many random effects as observations is an error, as in lme4", {
  skip_if_not_installed("lme4")
  d <- ss[ss$Days %in% c(0, 9), ]                  # 2 rows per subject: (Days | Subject) has 36 effects
  expect_error(lme4_fit(Reaction ~ Days + (Days | Subject), d), "number of observations \\(=36\\) <= number of random effects \\(=36\\)")
  expect_error(lmm(Reaction ~ Days + (Days | Subject), d),
               "term \\(\\(Intercept\\) \\+ Days \\| Subject\\) has 36 random effects, as many as the 36 observations")
  d$obs <- factor(seq_len(nrow(d)))
  expect_error(lme4_fit(Reaction ~ Days + (1 | obs), d), "number of levels of each grouping factor must be < number of observations")
  expect_error(lmm(Reaction ~ Days + (1 | obs), d), "grouping factor 'obs' has 36 levels for 36 observations")
  ## one fewer effect than observations is fitted, by both
  d1 <- rbind(d[names(ss)], ss[ss$Subject == "308" & ss$Days == 1, ])
  expect_same_fit(lmm(Reaction ~ Days + (Days | Subject), d1), lme4_fit(Reaction ~ Days + (Days | Subject), d1))
})

test_that("a constant response is an error naming it (lme4 returns a criterion of -Inf)", {
  skip_if_not_installed("lme4")
  d <- transform(ss, zero = 0, five = 5)
  expect_false(is.finite(lme4::REMLcrit(lme4_fit(zero ~ Days + (1 | Subject), d))))
  expect_error(lmm(zero ~ Days + (1 | Subject), d), "response 'zero' is constant \\(all values 0\\)")
  expect_error(lmm(five ~ 0 + (1 | Subject), d), "response 'five' is constant")
})

test_that("a model without fixed effects fits and summarizes as in lme4", {
  skip_if_not_installed("lme4")
  fit <- lmm(Reaction ~ 0 + (1 | Subject), ss)
  ref <- lme4_fit(Reaction ~ 0 + (1 | Subject))
  ## with p = 0 the REML criterion is the deviance
  expect_close(REMLcrit(fit), deviance(ref), rel = 1e-6)
  expect_close(sigma(fit), sigma(ref), rel = 1e-4)
  s <- summary(fit)
  expect_identical(dim(s$coefficients), c(0L, 5L))
  out <- capture.output(print(s))
  expect_true(any(grepl("Residual", out)))
  expect_false(any(grepl("Fixed effects", out)))
  expect_identical(nrow(anova(fit)), 0L)
})

test_that("update() refits as lme4's update() on the main model types", {
  skip_if_not_installed("lme4")
  fit <- lmm(Reaction ~ Days + (Days | Subject), ss)
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), ss)
  upd <- function(...) suppressWarnings(suppressMessages(update(ref, ...)))
  cases <- list(
    add_fixed = list(. ~ . + I(Days^2)),
    drop_fixed = list(. ~ . - Days),
    drop_random = list(. ~ . - (Days | Subject) + (1 | Subject)),
    uncorrelated = list(. ~ . - (Days | Subject) + (Days || Subject)),
    subset_data = list(data = ss[ss$Days > 0, ]),
    ml = list(REML = FALSE)
  )
  for (nm in names(cases)) {
    a <- do.call(update, c(list(fit), cases[[nm]]))
    b <- do.call(upd, cases[[nm]])
    expect_identical(strip_env(formula(a)), strip_env(formula(b)), label = nm)
    expect_same_fit(a, b)
  }
})

test_that("a bar inside a bar's side and offset() inside a term are refused, naming the term", {
  d <- data.frame(y = rnorm(40), x = rnorm(40), off = runif(40), g = gl(8, 5), h = gl(4, 10))
  d$y <- d$y + 2
  expect_error(lmm(y ~ (1 + x || g | h), d), "bar inside another bar")
  # lme4 adds such an offset to the model; lemma used to drop it without a word
  expect_error(lmm(log(y + 5) ~ (1 + offset(off) | g), d), "contains offset\\(\\).*fixed part")
  # the offset in the fixed part is the supported spelling
  skip_if_not_installed("lme4")
  fit <- lmm(y ~ 1 + offset(off) + (1 | g), d)
  fm <- lme4::lmer(y ~ 1 + offset(off) + (1 | g), d)
  expect_equal(REMLcrit(fit), lme4::REMLcrit(fm), tolerance = 1e-7)
})

test_that("model.frame(fixed.only = TRUE) is lme4's; an empty subset says '0 (non-NA) cases'", {
  skip_if_not_installed("lme4")
  m <- lmm(Reaction ~ log(1 + Days) + (Days | Subject), sleepstudy)
  fm <- lme4::lmer(Reaction ~ log(1 + Days) + (Days | Subject), sleepstudy)
  a <- model.frame(m, fixed.only = TRUE)
  b <- model.frame(fm, fixed.only = TRUE)
  expect_identical(names(a), names(b))
  expect_equal(unname(as.matrix(a)), unname(as.matrix(b)), tolerance = 1e-15)
  expect_identical(names(model.frame(m)), c("Reaction", "Days", "Subject"))
  expect_error(model.frame(m, fixed.only = NA), "'fixed.only' must be TRUE or FALSE")
  expect_error(lmm(Reaction ~ Days + (1 | Subject), sleepstudy, subset = Days > 20),
               "0 \\(non-NA\\) cases.*'subset'")
  d <- sleepstudy; d$Reaction <- NA
  expect_error(lmm(Reaction ~ Days + (1 | Subject), d), "0 \\(non-NA\\) cases.*missing values")
})
