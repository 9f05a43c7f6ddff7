# The bad-input battery (issue 10): every bad or unusual input to an exported
# function gets an error or warning whose message names the argument, column,
# level or file at fault, or, where lme4 fits the input, a fit that agrees with
# lme4. Cases are tables: a label, an expression, and the regexp its message must
# match. Each regexp names the thing at fault, so a vague or R-internal message
# ("subscript out of bounds") fails the case.

set.seed(10)
d <- data.frame(y = rnorm(40), x = rnorm(40), z = runif(40, 1, 2), g = factor(rep(1:8, 5)),
                h = factor(rep(1:4, 10)), s = factor(rep(letters[1:2], 20)))
d$y <- d$y + as.numeric(d$g) / 4 + d$x * (as.numeric(d$g) - 4) / 8
fit <- lmm(y ~ x + (1 | g), d)
fit_ml <- lmm(y ~ x + (1 | g), d, REML = FALSE)
fit_s <- lmm(y ~ x + (x | g), d)
ids <- levels(d$g)
K8 <- diag(8); dimnames(K8) <- list(ids, ids)

# Runs a table of cases: each an expression (quoted), the regexp and whether the
# condition is a warning. `info` carries the label into a failure report.
bad <- function(expr, msg, warning = FALSE) list(expr = substitute(expr), msg = msg, warning = warning)
run_cases <- function(cases) {
  env <- parent.frame()
  for (nm in names(cases)) {
    cs <- cases[[nm]]
    if (cs$warning) {
      expect_warning(suppressMessages(eval(cs$expr, env)), cs$msg, info = nm)
    } else {
      expect_error(suppressWarnings(suppressMessages(eval(cs$expr, env))), cs$msg, info = nm)
    }
  }
  invisible(length(cases))
}
n_cases <- 0L

test_that("lmm(): bad arguments are named", {
  cases <- list(
    "REML = 'yes'" = bad(lmm(y ~ x + (1 | g), d, REML = "yes"), "lmm\\(\\): 'REML' must be TRUE or FALSE"),
    "REML = NA" = bad(lmm(y ~ x + (1 | g), d, REML = NA), "'REML' must be TRUE or FALSE"),
    "REML = c(TRUE, FALSE)" = bad(lmm(y ~ x + (1 | g), d, REML = c(TRUE, FALSE)), "'REML' must be TRUE or FALSE"),
    "REML = 1" = bad(lmm(y ~ x + (1 | g), d, REML = 1), "'REML' must be TRUE or FALSE"),
    "control = list()" = bad(lmm(y ~ x + (1 | g), d, control = list()), "'control' must be the result of lmm_control"),
    "control = 'fast'" = bad(lmm(y ~ x + (1 | g), d, control = "fast"), "'control' must be the result of lmm_control"),
    "control = NULL" = bad(lmm(y ~ x + (1 | g), d, control = NULL), "'control' must be the result of lmm_control"),
    "formula a number" = bad(lmm(3, d), "'formula' must be a two-sided formula"),
    "one-sided formula" = bad(lmm(~ x + (1 | g), d), "'formula' must be a two-sided formula"),
    "formula string not parseable" = bad(lmm("y ~ x + (1 | ", d), "'formula' \\(a string\\) is not a formula"),
    "no random term" = bad(lmm(y ~ x, d), "no random-effect term"),
    "variable not in data" = bad(lmm(y ~ nothere + (1 | g), d), "variable 'nothere' is not in the data"),
    "grouping not in data" = bad(lmm(y ~ x + (1 | nothere), d), "grouping variable 'nothere'"),
    "slope variable not in data" = bad(lmm(y ~ x + (w | g), d), "variable 'w' is not in the data"),
    "data a string" = bad(lmm(y ~ x + (1 | g), "d"), "'data' must be a data frame \\(or a matrix or list of columns\\), not character"),
    "matrix without colnames" = bad(lmm(y ~ x + (1 | g), unname(as.matrix(d[1:2]))), "'data' is a matrix without column names")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("lmm(): bad responses, columns and grouping factors are named", {
  d_chr <- transform(d, y = letters[rep(1:20, 2)], stringsAsFactors = FALSE)
  d_fac <- transform(d, y = factor(rep(1:2, 20)))
  d_inf <- d; d_inf$y[3] <- Inf
  d_nan <- d; d_nan$y[3] <- NaN
  d_const <- transform(d, y = 2)
  d_gconst <- transform(d, y = as.numeric(g))
  d_xinf <- d; d_xinf$x[5] <- Inf
  d_one <- transform(d, one = factor("a"))
  d_gna <- d; d_gna$g[3] <- NA
  d_neg <- d; d_neg$z[4] <- -1
  cases <- list(
    "character response" = bad(lmm(y ~ x + (1 | g), d_chr), "response 'y' must be a numeric"),
    "factor response" = bad(lmm(y ~ x + (1 | g), d_fac), "response 'y' must be a numeric"),
    "matrix response" = bad(lmm(cbind(y, x) ~ 1 + (1 | g), d), "response 'cbind\\(y, x\\)' must be a numeric vector"),
    "infinite response" = bad(lmm(y ~ x + (1 | g), d_inf), "response 'y' has non-finite values"),
    "log(y) of negative y" = bad(lmm(log(y) ~ x + (1 | g), d), "response 'log\\(y\\)' has non-finite values"),
    "constant response" = bad(lmm(y ~ x + (1 | g), d_const), "response 'y' is constant"),
    "response a group constant" = bad(lmm(y ~ x + (1 | g), d_gconst), "response 'y' is constant within each level of 'g'"),
    "infinite fixed covariate" = bad(lmm(y ~ x + (1 | g), d_xinf), "non-finite values in column\\(s\\) 'x'"),
    "infinite slope covariate" = bad(lmm(y ~ 1 + (x | g), d_xinf), "\\(x \\| g\\) has non-finite values in column\\(s\\) 'x'"),
    "random slope on log(x), x < 0" = bad(lmm(y ~ 1 + (log(x) | g), d), "\\(log\\(x\\) \\| g\\) has non-finite values in column\\(s\\) 'log\\(x\\)'"),
    "fixed log(z), z < 0" = bad(lmm(y ~ log(z) + (1 | g), d_neg), "non-finite values in column\\(s\\) 'log\\(z\\)'"),
    "single-level factor" = bad(lmm(y ~ x + (1 | one), d_one), "'one' has a single level"),
    "NA in grouping with na.pass" = bad(lmm(y ~ x + (1 | g), d_gna, na.action = na.pass), "grouping factor 'g' has missing values"),
    "one level per observation" = bad(lmm(y ~ x + (1 | obs), transform(d, obs = factor(1:40))), "'obs' has 40 levels for 40 observations"),
    "more effects than observations" = bad(lmm(y ~ 1 + (1 + x + z | g), d[1:12, ]), "more than the 12 observations"),
    "bad grouping expression" = bad(lmm(y ~ x + (1 | log(h)), d), "grouping factor 'log\\(h\\)'"),
    "contrasts not a list" = bad(lmm(y ~ s + (1 | g), d, contrasts = "nope"), "'contrasts' must be NULL or a named list")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("lmm(): weights, offset and subset are checked", {
  w_neg <- rep(1, 40); w_neg[4] <- -1
  w_zero <- rep(1, 40); w_zero[4] <- 0
  w_inf <- rep(1, 40); w_inf[4] <- Inf
  cases <- list(
    "negative weights" = bad(lmm(y ~ x + (1 | g), d, weights = w_neg), "'weights' has negative values"),
    "zero weights" = bad(lmm(y ~ x + (1 | g), d, weights = w_zero), "'weights' has zeros"),
    "infinite weights" = bad(lmm(y ~ x + (1 | g), d, weights = w_inf), "'weights' has non-finite values"),
    "short weights" = bad(lmm(y ~ x + (1 | g), d, weights = rep(1, 3)), "variable lengths differ \\(found for '\\(weights\\)'\\)"),
    "character weights" = bad(lmm(y ~ x + (1 | g), d, weights = rep("a", 40)), "'weights' must be numeric \\(it is character\\)"),
    "short offset" = bad(lmm(y ~ x + (1 | g), d, offset = rep(1, 3)), "variable lengths differ \\(found for '\\(offset\\)'\\)"),
    "infinite offset" = bad(lmm(y ~ x + (1 | g), d, offset = c(Inf, rep(0, 39))), "offset has non-finite values"),
    "subset leaves no rows" = bad(lmm(y ~ x + (1 | g), d, subset = x > 100), "no observations are left after applying 'subset'"),
    "logical subset of wrong length" = bad(lmm(y ~ x + (1 | g), d, subset = c(TRUE, FALSE, TRUE)), "'subset' is a logical vector of length 3; the data have 40 rows"),
    "subset beyond the rows" = bad(lmm(y ~ x + (1 | g), d, subset = 1:50), "'subset' has row numbers beyond the 40 rows"),
    "character subset" = bad(lmm(y ~ x + (1 | g), d, subset = "a"), "'subset' must be a logical or numeric vector")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("lmm(): relationship matrices that do not fit are named", {
  Kasym <- K8; Kasym[1, 2] <- 0.5
  Kneg <- K8; Kneg[1, 1] <- -1
  Kna <- K8; Kna[2, 2] <- NA
  Kdup <- K8; dimnames(Kdup) <- list(c(1:7, 7), c(1:7, 7))
  Kdiff <- K8; colnames(Kdiff) <- rev(ids)
  Kchr <- matrix("a", 8, 8, dimnames = dimnames(K8))
  cases <- list(
    "relmat not a list" = bad(lmm(y ~ x + (1 | g), d, relmat = K8), "'relmat' must be a named list"),
    "relmat unnamed" = bad(lmm(y ~ x + (1 | g), d, relmat = list(K8)), "'relmat' must be a named list"),
    "relmat names no factor" = bad(lmm(y ~ x + (1 | g), d, relmat = list(zz = K8)), "relmat names 'zz'"),
    "not symmetric" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = Kasym)), "relmat\\$g is not symmetric"),
    "not positive semi-definite" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = Kneg)), "relmat\\$g is not positive semi-definite"),
    "missing a level" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = K8[-8, -8])), "no rows for 1 level\\(s\\) of 'g': 8"),
    "no dimnames" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = unname(K8))), "relmat\\$g needs dimnames"),
    "all zero" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = K8 * 0)), "relmat\\$g is all zero"),
    "duplicated dimnames" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = Kdup)), "relmat\\$g has duplicated dimnames: 7"),
    "NA entry" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = Kna)), "'relmat\\$g' has missing or infinite values"),
    "not square" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = K8[, -1])), "'relmat\\$g' must be a square matrix"),
    "character matrix" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = Kchr)), "'relmat\\$g' must be a numeric matrix"),
    "a data frame" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = as.data.frame(K8))), "'relmat\\$g' must be a numeric matrix"),
    "row and column names differ" = bad(lmm(y ~ x + (1 | g), d, relmat = list(g = Kdiff)), "relmat\\$g has different row and column names")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("lmm_control(): settings are checked by name", {
  cases <- list(
    "maxfun = 1" = bad(lmm_control(maxfun = 1), "lmm_control\\(\\): 'maxfun' must be .* >= 10"),
    "maxfun = 100.5" = bad(lmm_control(maxfun = 100.5), "'maxfun' must be a single finite whole number"),
    "maxfun = 'a'" = bad(lmm_control(maxfun = "a"), "'maxfun'"),
    "maxfun = Inf" = bad(lmm_control(maxfun = Inf), "'maxfun'"),
    "rhoend = 0" = bad(lmm_control(rhoend = 0), "'rhoend' must be"),
    "rhoend = 1" = bad(lmm_control(rhoend = 1), "'rhoend' must be .*0.1"),
    "rhoend = NA" = bad(lmm_control(rhoend = NA), "'rhoend'"),
    "polish = -1" = bad(lmm_control(polish = -1), "'polish' must be .* >= 0"),
    "polish = 1.5" = bad(lmm_control(polish = 1.5), "'polish' must be a single finite whole number"),
    "singular_tol = -1" = bad(lmm_control(singular_tol = -1), "'singular_tol'"),
    "singular_tol = 2" = bad(lmm_control(singular_tol = 2), "'singular_tol'"),
    "threads = 0" = bad(lmm_control(threads = 0), "'threads' must be .* >= 1"),
    "threads = NA" = bad(lmm_control(threads = NA), "'threads'"),
    "threads = 1.5" = bad(lmm_control(threads = 1.5), "'threads' must be a single finite whole number"),
    "threads = c(1, 2)" = bad(lmm_control(threads = c(1, 2)), "'threads'"),
    "unknown setting" = bad(lmm_control(tol = 1), "unused argument \\(tol = 1\\)")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("formula shapes: bars under -, *, :, %in% are refused naming the term; bar inside a bar too", {
  cases <- list(
    "-(1 | g)" = bad(lmm(y ~ x - (1 | g), d), "\\(1 \\| g\\) is subtracted"),
    "x * (1 | g)" = bad(lmm(y ~ x * (1 | g), d), "\\(1 \\| g\\) is an operand of '\\*'"),
    "x:(1 | g)" = bad(lmm(y ~ x + x:(1 | g), d), "\\(1 \\| g\\) is an operand of ':'"),
    "(1 | g) %in% h" = bad(lmm(y ~ x + (1 | g) %in% h, d), "\\(1 \\| g\\) is an operand of '%in%'"),
    "(x | g) * s" = bad(lmm(y ~ (x | g) * s, d), "\\(x \\| g\\) is an operand of '\\*'"),
    "-(x || g)" = bad(lmm(y ~ 1 - (x || g), d), "\\(1 \\| g\\) is subtracted in '1 - \\(\\(1 \\| g\\) \\+ \\(0 \\+ x \\| g\\)\\)'"),
    "bar inside a bar" = bad(lmm(y ~ x + (1 | g | h), d), "bar|\\(1 \\| g \\| h\\)|'\\|'"),
    "offset inside a bar" = bad(lmm(y ~ x + (1 + offset(z) | g), d), "offset")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("valid inputs that lemma once refused are fitted as lme4 fits them", {
  skip_if_not_installed("lme4")
  # Same data, same model: the criterion agrees to the optimizers' tolerance
  # (lemma's is equal or better; 1e-6 relative covers lme4's stopping rule), and
  # the fixed effects to 1e-4 relative (flat criteria move beta in the 5th digit).
  agree <- function(ours, theirs, info) {
    expect_lte(REMLcrit(ours), lme4::REMLcrit(theirs) + 1e-6 * abs(lme4::REMLcrit(theirs)), label = info)
    expect_equal(unname(fixef(ours)), unname(lme4::fixef(theirs)), tolerance = 1e-4, info = info)
  }
  lmer <- function(...) suppressMessages(suppressWarnings(lme4::lmer(...)))
  agree(lmm(y ~ x + ((1 | g)), d), lmer(y ~ x + (1 | g), d), "((1 | g))")
  agree(lmm(y ~ x + ((x || g)), d), lmer(y ~ x + (x || g), d), "((x || g))")
  agree(lmm(y ~ x + (((1 | g))), d), lmer(y ~ x + (1 | g), d), "(((1 | g)))")
  agree(lmm(y ~ x + ((1 | g) + (1 | h)), d), lmer(y ~ x + (1 | g) + (1 | h), d), "((1 | g) + (1 | h))")
  agree(lmm(y ~ (x + (1 | g)), d), lmer(y ~ x + (1 | g), d), "(x + (1 | g))")
  # a numeric matrix as data, as lme4 reads its columns
  m <- cbind(y = d$y, x = d$x, g = as.numeric(d$g))
  agree(lmm(y ~ x + (1 | g), m), lmer(y ~ x + (1 | g), as.data.frame(m)), "matrix data")
  # K with rownames only: the identity relationship matrix is the plain (1 | g) model
  Kr <- K8; colnames(Kr) <- NULL
  agree(lmm(y ~ x + (1 | g), d, relmat = list(g = Kr)), lmer(y ~ x + (1 | g), d), "K with rownames only")
  Kc <- K8; rownames(Kc) <- NULL
  agree(lmm(y ~ x + (1 | g), d, relmat = list(g = Kc)), lmer(y ~ x + (1 | g), d), "K with colnames only")
  # a string formula
  agree(lmm("y ~ x + (1 | g)", d), lmer(y ~ x + (1 | g), d), "formula as a string")
  # a relationship matrix with extra levels (unused ones are dropped)
  Kbig <- diag(9); dimnames(Kbig) <- list(c(ids, "99"), c(ids, "99"))
  agree(lmm(y ~ x + (1 | g), d, relmat = list(g = Kbig)), lmer(y ~ x + (1 | g), d), "K with an extra level")
  n_cases <<- n_cases + 10L
})

test_that("predict(): bad arguments and newdata are named", {
  nd_new <- data.frame(x = 0, g = "99")
  nd_nox <- data.frame(g = "1")
  cases <- list(
    "re.form = 'abc'" = bad(predict(fit, re.form = "abc"), "predict\\(\\): 're.form' must be NULL, NA or a one-sided formula"),
    "re.form = 1" = bad(predict(fit, re.form = 1), "'re.form' must be NULL, NA or a one-sided formula"),
    "re.form two-sided" = bad(predict(fit, re.form = y ~ (1 | g)), "'re.form' must be a one-sided formula"),
    "re.form term not in model" = bad(predict(fit, re.form = ~ (1 | h)), "'re.form' names term\\(s\\) not in the model: \\(1 \\| h\\)"),
    "re.form without a bar" = bad(predict(fit, re.form = ~ x), "'re.form' ~x names no random-effect term"),
    "new levels" = bad(predict(fit, nd_new), "new levels in newdata for the grouping factor 'g': 99"),
    "newdata lacks x" = bad(predict(fit, nd_nox), "newdata has no column\\(s\\) 'x' for the fixed effects"),
    "type = 'terms'" = bad(predict(fit, type = "terms"), "'type' = \"terms\" is not one of"),
    "interval = 'x'" = bad(predict(fit, interval = "x"), "'interval' = \"x\" is not one of"),
    "level = 0" = bad(predict(fit, interval = "confidence", level = 0), "predict\\(\\): 'level' must be a single number strictly between 0 and 1"),
    "level = 95" = bad(predict(fit, interval = "confidence", level = 95), "'level' must be a single number strictly between 0 and 1"),
    "se.fit = 'yes'" = bad(predict(fit, se.fit = "yes"), "'se.fit' must be TRUE or FALSE"),
    "allow.new.levels = NA" = bad(predict(fit, allow.new.levels = NA), "'allow.new.levels' must be TRUE or FALSE"),
    "random.only = 1" = bad(predict(fit, random.only = 1), "'random.only' must be TRUE or FALSE"),
    "newparams" = bad(predict(fit, newparams = list(beta = 1)), "'newparams' is not supported"),
    "terms" = bad(predict(fit, terms = "x"), "'terms' is not supported"),
    "unknown argument" = bad(predict(fit, foo = 1), "predict\\(\\): argument 'foo' is not supported", warning = TRUE)
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("predict(): an NA in a random-slope variable of newdata gives NA, as lme4", {
  nd <- data.frame(x = c(NA, 1, 0.5), g = c("1", "2", "3"))
  p <- predict(fit_s, newdata = nd)
  expect_true(is.na(p[[1]]))
  expect_false(anyNA(p[2:3]))
  skip_if_not_installed("lme4")
  ref <- suppressMessages(suppressWarnings(lme4::lmer(y ~ x + (x | g), d)))
  pr <- predict(ref, newdata = nd)
  expect_identical(is.na(unname(p)), is.na(unname(pr)))
  # the rows that are not NA agree to the fits' difference (both at the optimum, 1e-4)
  expect_equal(unname(p[2:3]), unname(pr[2:3]), tolerance = 1e-4)
  n_cases <<- n_cases + 1L
})

test_that("simulate(): bad arguments are named", {
  cases <- list(
    "nsim = 0" = bad(simulate(fit, nsim = 0), "simulate\\(\\): 'nsim' must be .* >= 1"),
    "nsim = -1" = bad(simulate(fit, nsim = -1), "'nsim'"),
    "nsim = 1.5" = bad(simulate(fit, nsim = 1.5), "'nsim' must be a single finite whole number"),
    "nsim = 'a'" = bad(simulate(fit, nsim = "a"), "'nsim'"),
    "use.u = NA" = bad(simulate(fit, use.u = NA), "'use.u' must be TRUE or FALSE"),
    "use.u and re.form" = bad(simulate(fit, use.u = TRUE, re.form = NA), "give only one of 'use.u' and 're.form'"),
    "re.form = 'abc'" = bad(simulate(fit, re.form = "abc"), "simulate\\(\\): 're.form' must be NULL, NA"),
    "weights too short" = bad(simulate(fit, weights = c(1, 2)), "'weights' must be 40 positive finite numbers"),
    "negative weights" = bad(simulate(fit, weights = rep(-1, 40)), "'weights' must be 40 positive"),
    "newparams" = bad(simulate(fit, newparams = list(theta = 1)), "'newparams' is not supported"),
    "cond.sim = 'no'" = bad(simulate(fit, cond.sim = "no"), "'cond.sim' must be TRUE or FALSE"),
    "new levels" = bad(simulate(fit, newdata = data.frame(x = 0, g = "99")), "new levels in newdata for the grouping factor 'g'"),
    "partial re.form" = bad(simulate(fit_s, re.form = ~ (0 + x | g)), "'re.form' must keep whole random-effect terms"),
    "unknown argument" = bad(simulate(fit, foo = 2), "simulate\\(\\): argument 'foo' is not supported", warning = TRUE)
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("anova(): bad arguments are named", {
  fit_other <- lmm(y ~ x + (1 | g), d[1:30, ])
  cases <- list(
    "a string as second model" = bad(anova(fit, "notafit"), "anova\\(\\): argument 1 after the model \\(\"notafit\", of class character\\) is not a model"),
    "a number as second model" = bad(anova(fit, 3), "argument 1 after the model \\(3, of class numeric\\)"),
    "type = 'IV'" = bad(anova(fit, type = "IV"), "anova\\(\\): 'type' = \"IV\" is not one of \"III\", \"II\", \"I\""),
    "ddf = 'x'" = bad(anova(fit, ddf = "x"), "anova\\(\\): 'ddf' = \"x\" is not one of"),
    "refit = NA" = bad(anova(fit, fit_s, refit = NA), "'refit' must be TRUE or FALSE"),
    "model.names of wrong length" = bad(anova(fit, fit_s, model.names = "a"), "'model.names' has 1 names for 2 models"),
    "models on other data" = bad(anova(fit, fit_other), "not all fitted to the same response and observations"),
    "unknown named argument" = bad(anova(fit, foo = 1), "anova\\(\\): argument 'foo' is not supported", warning = TRUE),
    "glm with another family" = bad(anova(fit, glm(I(y > 0) ~ x, binomial, d)), "non-gaussian family")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("contest(): bad contrasts and arguments are named", {
  cases <- list(
    "all-zero L" = bad(contest(fit, c(0, 0)), "contest\\(\\): 'L' is all zero"),
    "all-zero L, joint = FALSE" = bad(contest(fit, matrix(0, 2, 2), joint = FALSE), "'L' is all zero"),
    "a zero row, joint = FALSE" = bad(contest(fit, rbind(c(0, 1), c(0, 0)), joint = FALSE), "row\\(s\\) 2 of 'L' are all zero"),
    "L with 3 columns" = bad(contest(fit, c(0, 1, 0)), "contest\\(\\): 'L' has 3 column\\(s\\); it needs 2"),
    "character L" = bad(contest(fit, c("a", "b")), "'L' must be a numeric matrix or vector"),
    "L with NA" = bad(contest(fit, c(NA, 1)), "'L' has missing or infinite values"),
    "L with Inf" = bad(contest(fit, c(Inf, 1)), "'L' has missing or infinite values"),
    "L a list" = bad(contest(fit, list(0, 1)), "'L' must be a numeric matrix"),
    "rhs of wrong length" = bad(contest(fit, diag(2), rhs = c(1, 2, 3)), "'rhs' must be a finite number or one per row of 'L' \\(2\\)"),
    "rhs = NA" = bad(contest(fit, c(0, 1), rhs = NA_real_), "'rhs'"),
    "inconsistent rhs" = bad(contest(fit, rbind(c(0, 1), c(0, 2)), rhs = c(1, 1)), "'rhs' does not follow the same dependence"),
    "joint = NA" = bad(contest(fit, c(0, 1), joint = NA), "'joint' must be TRUE or FALSE"),
    "confint = 'yes'" = bad(contest(fit, c(0, 1), joint = FALSE, confint = "yes"), "'confint' must be TRUE or FALSE"),
    "level = 0" = bad(contest(fit, c(0, 1), joint = FALSE, level = 0), "contest\\(\\): 'level' must be a single number strictly between 0 and 1"),
    "ddf = 'x'" = bad(contest(fit, c(0, 1), ddf = "x"), "contest\\(\\): 'ddf' = \"x\" is not one of"),
    "Kenward-Roger on ML fit" = bad(contest(fit_ml, c(0, 1), ddf = "Kenward-Roger"), "Kenward-Roger's method is only available for REML"),
    "unknown argument" = bad(contest(fit, c(0, 1), foo = 1), "contest\\(\\): argument 'foo' is not supported", warning = TRUE)
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("confint(): bad arguments are named", {
  cases <- list(
    "level = 0" = bad(confint(fit, level = 0), "confint\\(\\): 'level' must be a single number strictly between 0 and 1"),
    "level = 1" = bad(confint(fit, level = 1), "'level' must be a single number strictly between 0 and 1"),
    "level = -0.5" = bad(confint(fit, level = -0.5), "'level'"),
    "level = 'a'" = bad(confint(fit, level = "a"), "'level'"),
    "level = c(0.9, 0.95)" = bad(confint(fit, method = "Wald", level = c(0.9, 0.95)), "'level'"),
    "method = 'x'" = bad(confint(fit, method = "x"), "'method' = \"x\" is not one of"),
    "boot nsim = 0" = bad(confint(fit, method = "boot", nsim = 0), "confint\\(\\): 'nsim' must be .* >= 1"),
    "boot nsim = 'a'" = bad(confint(fit, method = "boot", nsim = "a"), "'nsim'"),
    "boot.type = 'x'" = bad(confint(fit, method = "boot", nsim = 2, boot.type = "x"), "'boot.type' = \"x\" is not one of"),
    "ddf = 'x'" = bad(confint(fit, method = "Wald", ddf = "x"), "'ddf' = \"x\" is not one of"),
    "unknown parm" = bad(confint(fit, parm = "nope", method = "Wald"), "nope"),
    "oldNames = FALSE" = bad(confint(fit, method = "Wald", oldNames = FALSE), "'oldNames = FALSE' is not supported"),
    "nsim with Wald" = bad(confint(fit, method = "Wald", nsim = 10), "'nsim' not used by method = \"Wald\"", warning = TRUE),
    "zeta with Wald" = bad(confint(fit, method = "Wald", zeta = 2), "'zeta' not used by method = \"Wald\"", warning = TRUE),
    "unknown argument with Wald" = bad(confint(fit, method = "Wald", foo = 1), "confint\\(\\): argument 'foo' is not supported", warning = TRUE)
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("varcomp(), icc(), blup_at() and gmr(): bad arguments are named", {
  dt <- data.frame(y = rnorm(48), t = rep(0:5, 8), id = factor(rep(1:8, each = 6)))
  dt$y <- dt$y + dt$t * rep(rnorm(8, 1, 0.3), each = 6)
  fit_t <- lmm(y ~ t + (t | id), dt)
  dbe <- data.frame(y = rnorm(32), trt = factor(rep(c("R", "T"), 16)), per = factor(rep(1:2, each = 16)),
                    id = factor(rep(1:16, 2)))
  fit_be <- lmm(y ~ per + trt + (1 | id), dbe)
  cases <- list(
    "varcomp level = 95" = bad(varcomp(fit, level = 95), "varcomp\\(\\): 'level' must be a single number strictly between 0 and 1"),
    "varcomp nsim = 0" = bad(varcomp(fit, nsim = 0), "'nsim' must be"),
    "varcomp random slope" = bad(varcomp(fit_s), "random intercepts \\(1 \\| g\\) only"),
    "varcomp of an lm" = bad(varcomp(lm(y ~ x, d)), "'fit' must be a model fitted by lmm"),
    "varcomp boot not from confint" = bad(varcomp(fit, boot = 1:3), "'boot' must be the result of confint"),
    "varcomp unknown argument" = bad(varcomp(fit, nsim = 40, seed = 1, type = "perc"), "varcomp\\(\\): argument 'type' is not supported", warning = TRUE),
    "icc level = 0" = bad(icc(fit, level = 0), "icc\\(\\): 'level'"),
    "icc nsim = -2" = bad(icc(fit, nsim = -2), "'nsim' must be"),
    "icc of an lm" = bad(icc(lm(y ~ x, d)), "'fit' must be a model fitted by lmm"),
    "blup_at at = '1'" = bad(blup_at(fit_t, at = "1", time = "t"), "blup_at\\(\\): 'at' must be"),
    "blup_at at = NA" = bad(blup_at(fit_t, at = NA_real_, time = "t"), "'at' must be"),
    "blup_at level = 1" = bad(blup_at(fit_t, at = 1, time = "t", level = 1), "blup_at\\(\\): 'level' must be a single number strictly between"),
    "blup_at unknown time" = bad(blup_at(fit_t, at = 1, time = "day"), "'time' = \"day\" is not a variable of the model"),
    "blup_at time not a string" = bad(blup_at(fit_t, at = 1, time = 1), "'time' must be the name of the time variable"),
    "blup_at bad group" = bad(blup_at(fit_t, at = 1, time = "t", group = "g"), "'group' must be one of the model's grouping factors: \"id\""),
    "blup_at of an lm" = bad(blup_at(lm(y ~ t, dt), at = 1), "blup_at\\(\\): 'fit' must be a model fitted by lmm\\(\\) \\(it is of class lm\\)"),
    "anova_terms of a list" = bad(anova_terms(list()), "anova_terms\\(\\): 'fit' must be a model fitted by lmm\\(\\) \\(it is a list\\)"),
    "fixef_table of an lm" = bad(fixef_table(lm(y ~ t, dt)), "fixef_table\\(\\): 'fit' must be a model fitted by lmm"),
    "vcov_kr of a number" = bad(vcov_kr(1), "vcov_kr\\(\\): 'fit' must be a model fitted by lmm\\(\\) \\(it is a double\\)"),
    "blup_at newdata a list" = bad(blup_at(fit_t, at = 1, time = "t", newdata = as.list(dt)), "'newdata' must be a data frame"),
    "gmr unknown term" = bad(gmr(fit_be, "dose"), "'term' = \"dose\" is neither"),
    "gmr limits reversed" = bad(gmr(fit_be, "trt", limits = c(1.25, 0.8)), "gmr\\(\\): 'limits' must be two finite increasing numbers"),
    "gmr limits not around 1" = bad(gmr(fit_be, "trt", limits = c(1.1, 1.25)), "'limits' must be .* the first below 1"),
    "gmr limits to Inf" = bad(gmr(fit_be, "trt", limits = c(0.8, Inf)), "'limits' must be two finite"),
    "gmr level = 90" = bad(gmr(fit_be, "trt", level = 90), "gmr\\(\\): 'level' must be a single number strictly between"),
    "gmr ddf = 'z'" = bad(gmr(fit_be, "trt", ddf = "z"), "gmr\\(\\): 'ddf' = \"z\" is not one of"),
    "gmr of an lm" = bad(gmr(lm(y ~ trt, dbe), "trt"), "'fit' must be a model fitted by lmm")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("other methods and building blocks: bad arguments are named", {
  cases <- list(
    "newdata a string" = bad(predict(fit, newdata = "a"), "'newdata' must be a data frame, not character"),
    "newdata with text for a number" = bad(predict(fit, newdata = data.frame(x = "a", g = "1")),
                                           "'newdata' does not fit the model's fixed effects: variable 'x' was fitted with type \"numeric\""),
    "simulate seed = 'a'" = bad(simulate(fit, seed = "a"), "simulate\\(\\): 'seed' must be a single finite whole number"),
    "VarCorr sigma = 'a'" = bad(VarCorr(fit, sigma = "a"), "VarCorr\\(\\): 'sigma' must be a single finite number >= 0"),
    "logLik REML = 'yes'" = bad(logLik(fit, REML = "yes"), "logLik\\(\\): 'REML' must be TRUE or FALSE"),
    "deviance REML = NA" = bad(deviance(fit, REML = NA), "deviance\\(\\): 'REML' must be TRUE or FALSE"),
    "REML logLik of an ML fit" = bad(logLik(fit_ml, REML = TRUE), "an ML fit has no REML log-likelihood"),
    "refit with 3 values" = bad(refit(fit, 1:3), "refit\\(\\): 'newresp' has 3 values; the fit used 40 observations"),
    "refit with text" = bad(refit(fit, letters[rep(1:20, 2)]), "'newresp' must be a numeric vector"),
    "refit with Inf" = bad(refit(fit, c(Inf, d$y[-1])), "'newresp' has missing or non-finite values"),
    "ranef condVar = 'yes'" = bad(ranef(fit, condVar = "yes"), "ranef\\(\\): 'condVar' must be TRUE or FALSE"),
    "ranef whichel unknown" = bad(ranef(fit, whichel = "nope"), "'whichel' names 'nope', not a grouping factor"),
    "getME unknown name" = bad(getME(fit, "nope"), "getME\\(\\): 'nope' is not available"),
    "isSingular tol = -1" = bad(isSingular(fit, tol = -1), "isSingular\\(\\): 'tol' must be"),
    "fixef_table ddf = 'x'" = bad(fixef_table(fit, ddf = "x"), "fixef_table\\(\\): 'ddf' = \"x\" is not one of"),
    "summary ddf = 3" = bad(summary(fit, ddf = 3), "summary\\(\\): 'ddf' must be one of"),
    "residuals type = 'x'" = bad(residuals(fit, type = "x"), "residuals\\(\\): 'type' = \"x\" is not one of"),
    "vcov adjust = 'x'" = bad(vcov(fit, adjust = "x"), "vcov\\(\\): 'adjust' = \"x\" is not one of"),
    "tidy effects = 'x'" = bad(tidy.lemma_fit(fit, effects = "x"), "tidy\\(\\): 'effects' must be one or more of"),
    "tidy conf.method = 'x'" = bad(tidy.lemma_fit(fit, conf.int = TRUE, conf.method = "x"), "tidy\\(\\): 'conf.method' = \"x\" is not one of"),
    "center_within lengths differ" = bad(center_within(1:3, factor(1:2)), "center_within\\(\\): 'g' has length 2, 'x' has length 3"),
    "cluster_mean of text" = bad(cluster_mean(letters[1:4], factor(c(1, 1, 2, 2))), "cluster_mean\\(\\): 'x' must be a numeric"),
    "inflation_factor p > 1" = bad(inflation_factor(c(0.5, 2)), "inflation_factor\\(\\): 'p' has values outside \\[0, 1\\]"),
    "inflation_factor text" = bad(inflation_factor("a"), "inflation_factor\\(\\): 'p' must be a numeric vector"),
    "lmm_object of a number" = bad(lmm_object(1, 2), "lmm_object\\(\\): 'devfun' must be a function from lmm_devfun"),
    "lmm_object with a bad opt" = bad(lmm_object(lmm_devfun(lmm_frame(y ~ x + (1 | g), d)), list(par = 1:3)), "lmm_object\\(\\): 'opt' must be the result of lmm_optimize"),
    "lmm_devfun REML = NA" = bad(lmm_devfun(lmm_frame(y ~ x + (1 | g), d), REML = NA), "lmm_devfun\\(\\): 'REML' must be TRUE or FALSE"),
    "lmm_devfun of a data frame" = bad(lmm_devfun(d), "lmm_devfun\\(\\): 'frame' must be the result of lmm_frame"),
    "lmm_optimize control = list()" = bad(lmm_optimize(lmm_devfun(lmm_frame(y ~ x + (1 | g), d)), control = list()), "lmm_optimize\\(\\): 'control' must be the result of lmm_control")
  )
  n_cases <<- n_cases + run_cases(cases)
  skip_if_not_installed("lme4")
  # VarCorr(sigma = ) scales the covariances as lme4's does: exact arithmetic on
  # the same theta, so the ratio to the default is sigma^2 / sigma(fit)^2 to rounding
  ref <- suppressMessages(lme4::lmer(y ~ x + (x | g), d))
  ratio_lme4 <- lme4::VarCorr(ref, sigma = 2)$g / lme4::VarCorr(ref)$g
  ratio_ours <- VarCorr(fit_s, sigma = 2)$g / VarCorr(fit_s)$g
  expect_equal(unname(unclass(ratio_ours))[1:4], 4 / sigma(fit_s)^2 * c(1, 1, 1, 1), tolerance = 1e-12)
  expect_equal(unname(ratio_lme4[1:4]), 4 / sigma(ref)^2 * c(1, 1, 1, 1), tolerance = 1e-12)
  n_cases <<- n_cases + 1L
})

# ---- genotypes: read_plink, grm, lmm_scan ---------------------------------------

set.seed(11)
G <- matrix(rbinom(40 * 30, 2, 0.3), 40, 30, dimnames = list(paste0("i", 1:40), paste0("s", 1:30)))
dg <- data.frame(y = rnorm(40) + G[, 1] / 2, id = factor(rownames(G), levels = rownames(G)))
KG <- suppressMessages(grm(G))
null <- list(y = dg$y, X = matrix(1, 40, 1), K = KG, ids = rownames(G))

test_that("read_plink(): missing or corrupt files are named", {
  src <- sub("\\.bed$", "", system.file("extdata", "example.bed", package = "lemma"))
  dir <- tempfile("battery-plink"); dir.create(dir)
  pre <- file.path(dir, "x")
  copy <- function() file.copy(paste0(src, c(".bed", ".bim", ".fam")), paste0(pre, c(".bed", ".bim", ".fam")),
                               overwrite = TRUE)
  copy()
  bytes <- readBin(paste0(pre, ".bed"), "raw", file.size(paste0(pre, ".bed")))
  bim <- readLines(paste0(pre, ".bim"))
  fam <- readLines(paste0(pre, ".fam"))
  cases <- list(
    "prefix NA" = bad(read_plink(NA_character_), "read_plink\\(\\): 'prefix' must be a single file path"),
    "prefix a number" = bad(read_plink(1), "'prefix' must be a single file path"),
    "two prefixes" = bad(read_plink(c(pre, pre)), "'prefix' must be a single file path"),
    "no such fileset" = bad(read_plink(file.path(dir, "nope")), "PLINK file\\(s\\) not found: .*nope\\.bed"),
    "truncated .bed" = bad({copy(); writeBin(bytes[1:100], paste0(pre, ".bed")); read_plink(pre)}, "x\\.bed.*100 bytes; expected"),
    "wrong magic bytes" = bad({b <- bytes; b[1] <- as.raw(0); writeBin(b, paste0(pre, ".bed")); read_plink(pre)}, "x\\.bed.*not a PLINK \\.bed"),
    "individual-major .bed" = bad({b <- bytes; b[3] <- as.raw(0); writeBin(b, paste0(pre, ".bed")); read_plink(pre)}, "x\\.bed.*individual-major"),
    "empty .bim" = bad({copy(); writeLines(character(), paste0(pre, ".bim")); read_plink(pre)}, "x\\.bim"),
    "short .bim line" = bad({copy(); bb <- bim; bb[2] <- "1 rs2"; writeLines(bb, paste0(pre, ".bim")); read_plink(pre)}, "x\\.bim"),
    "missing .fam" = bad({copy(); unlink(paste0(pre, ".fam")); read_plink(pre)}, "not found: .*x\\.fam"),
    "extra .fam line" = bad({copy(); writeLines(c(fam, fam[1]), paste0(pre, ".fam")); read_plink(pre)}, "x\\.bed"),
    "text phenotype" = bad({copy(); ff <- fam; f <- strsplit(ff[3], "[ \t]+")[[1]]; f[6] <- "abc";
                            ff[3] <- paste(f, collapse = " "); writeLines(ff, paste0(pre, ".fam")); read_plink(pre)},
                           "x\\.fam: phenotype \\(column 6\\)", warning = TRUE),
    "duplicated IID" = bad({copy(); ff <- fam; ff[2] <- ff[1]; writeLines(ff, paste0(pre, ".fam")); read_plink(pre)},
                           "duplicated individual ids \\(IID\\) in .*x\\.fam", warning = TRUE)
  )
  n_cases <<- n_cases + run_cases(cases)
  copy()
  g <- read_plink(pre)
  cases <- list(
    "as.matrix snps out of range" = bad(as.matrix(g, snps = 1e6), "'snps': SNP indices must be whole numbers in 1\\.\\."),
    "as.matrix unknown snp" = bad(as.matrix(g, snps = "nope"), "'snps': SNP\\(s\\) not found: nope"),
    "as.matrix unknown individual" = bad(as.matrix(g, individuals = "nope"), "'individuals': individual\\(s\\) not found: nope"),
    "as.matrix logical snps of wrong length" = bad(as.matrix(g, snps = c(TRUE, FALSE)), "'snps' is a logical vector of length 2")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("grm(): bad genotypes and arguments are named", {
  Gchr <- matrix("a", 4, 3)
  Gmono <- matrix(1, 10, 5, dimnames = list(1:10, 1:5))
  cases <- list(
    "snps = 'nope'" = bad(grm(G, snps = "nope"), "'snps': SNP\\(s\\) not found: nope"),
    "snps = 0" = bad(grm(G, snps = 0), "'snps': SNP indices must be whole numbers in 1\\.\\.30"),
    "snps = 31" = bad(grm(G, snps = 31), "'snps': SNP indices must be whole numbers in 1\\.\\.30"),
    "snps = 1.5" = bad(grm(G, snps = 1.5), "'snps': SNP indices must be whole numbers"),
    "chunk_size = 0" = bad(grm(G, chunk_size = 0), "grm\\(\\): 'chunk_size' must be .* >= 1"),
    "chunk_size = -1" = bad(grm(G, chunk_size = -1), "'chunk_size'"),
    "chunk_size = 2.5" = bad(grm(G, chunk_size = 2.5), "'chunk_size' must be a single finite whole number"),
    "chunk_size = NA" = bad(grm(G, chunk_size = NA), "'chunk_size'"),
    "method = 'x'" = bad(grm(G, method = "x"), "grm\\(\\): 'method' = \"x\" is not one of"),
    "maf = -1" = bad(grm(G, maf = -1), "'maf' must be .*\\[0, 0.5\\]"),
    "maf = 0.6" = bad(grm(G, maf = 0.6), "'maf'"),
    "miss = 2" = bad(grm(G, miss = 2), "'miss' must be .*\\[0, 1\\]"),
    "character genotypes" = bad(grm(Gchr), "'genotypes' must be a PLINK fileset from read_plink\\(\\) or a numeric"),
    "a list" = bad(grm(list(1, 2)), "'genotypes' must be"),
    "no SNP passes" = bad(grm(Gmono), "no SNP passed the filters")
  )
  n_cases <<- n_cases + run_cases(cases)
  # a block larger than the data is one block: the same matrix as the default
  expect_equal(suppressMessages(grm(G, chunk_size = 1e9)), KG, tolerance = 1e-12)
  n_cases <<- n_cases + 1L
})

test_that("lmm_scan(): bad arguments, phenotypes and genotypes are named", {
  G_dup <- G; rownames(G_dup)[2] <- "i1"
  G_rows <- G; rownames(G_rows) <- NULL
  two_re <- lmm(y ~ 1 + (1 | g) + (1 | h), d)
  scan <- function(...) suppressMessages(lmm_scan(...))
  null_const <- modifyList(null, list(y = rep(1, 40)))
  null_inf <- null; null_inf$y[2] <- Inf
  null_chr <- modifyList(null, list(y = as.character(null$y)))
  null_rank <- modifyList(null, list(X = cbind(1, rep(2, 40))))
  null_K <- modifyList(null, list(K = KG[-1, ]))
  null_Kna <- null; null_Kna$K[1, 2] <- NA
  cases <- list(
    "n_region = 0" = bad(scan(null, G, n_region = 0), "lmm_scan\\(\\): 'n_region' must be a single finite whole number"),
    "n_region = 2.5" = bad(scan(null, G, n_region = 2.5), "'n_region'"),
    "n_region = NA" = bad(scan(null, G, n_region = NA), "'n_region'"),
    "lambda_range reversed" = bad(scan(null, G, lambda_range = c(1e5, 1e-5)), "lmm_scan\\(\\): 'lambda_range' must be two finite increasing numbers, above 0"),
    "lambda_range negative" = bad(scan(null, G, lambda_range = c(-1, 10)), "'lambda_range' must be two finite increasing numbers, above 0"),
    "lambda_range from 0" = bad(scan(null, G, lambda_range = c(0, 10)), "'lambda_range'.*above 0"),
    "lambda_range to Inf" = bad(scan(null, G, lambda_range = c(1e-5, Inf)), "'lambda_range' must be two finite"),
    "lambda_range of length 1" = bad(scan(null, G, lambda_range = 1), "'lambda_range'"),
    "lambda_range NA" = bad(scan(null, G, lambda_range = c(NA, 1)), "'lambda_range'"),
    "test = 'x'" = bad(scan(null, G, test = "x"), "lmm_scan\\(\\): 'test' = \"x\" is not one of"),
    "method = 'x'" = bad(scan(null, G, method = "x"), "'method' = \"x\" is not one of"),
    "lambda_search = 'brent'" = bad(scan(null, G, lambda_search = "brent"), "'lambda_search' = \"brent\" is not one of"),
    "chunk_size = 0" = bad(scan(null, G, chunk_size = 0), "'chunk_size' must be .* >= 1"),
    "maf = 2" = bad(scan(null, G, maf = 2), "'maf'"),
    "miss = -1" = bad(scan(null, G, miss = -1), "'miss'"),
    "r2 = -1" = bad(scan(null, G, r2 = -1), "'r2' must be a single finite number >= 0"),
    "threads = 0" = bad(scan(null, G, threads = 0), "lmm_scan\\(\\): 'threads' must be .* >= 1"),
    "threads = 'two'" = bad(scan(null, G, threads = "two"), "'threads'"),
    "snps = 'nope'" = bad(scan(null, G, snps = "nope"), "'snps': SNP\\(s\\) not found: nope"),
    "snps = 0" = bad(scan(null, G, snps = 0), "'snps': SNP indices"),
    "character genotypes" = bad(scan(null, matrix("a", 40, 2)), "'genotypes' must be"),
    "two genotype rows with one name" = bad(scan(null, G_dup), "'genotypes' has several rows for individual\\(s\\) i1"),
    "individual missing from genotypes" = bad(scan(null, G[-5, ]), "individual\\(s\\) of the null model are not in the genotypes, e\\.g\\. i5"),
    "no ids, wrong number of rows" = bad(scan(modifyList(null, list(ids = NULL, K = unname(KG))), G_rows[-1, ]), "the genotypes have 39 individuals and no ids; the null model has 40"),
    "constant phenotype" = bad(scan(null_const, G), "phenotype null_fit\\$y is constant"),
    "infinite phenotype" = bad(scan(null_inf, G), "phenotype null_fit\\$y has infinite values"),
    "character phenotype" = bad(scan(null_chr, G), "phenotype null_fit\\$y must be numeric \\(it is character\\)"),
    "rank-deficient covariates" = bad(scan(null_rank, G), "covariates null_fit\\$X are linearly dependent"),
    "K of wrong size" = bad(scan(null_K, G), "'null_fit\\$K' must be a square matrix"),
    "K with NA" = bad(scan(null_Kna, G), "'null_fit\\$K' has missing or infinite values"),
    "null_fit a number" = bad(scan(3, G), "'null_fit' must be an lmm\\(\\) fit"),
    "null fit with two terms" = bad(scan(two_re, G), "exactly one relationship-matrix term")
  )
  n_cases <<- n_cases + run_cases(cases)
})

test_that("the battery has at least 150 cases", {
  expect_gte(n_cases, 150L)
  message("bad-input battery: ", n_cases, " cases")
})
