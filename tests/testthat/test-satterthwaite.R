## Satterthwaite: the exact derivatives of cov(beta-hat) and of the deviance from
## the blocked C++ code against dense n x n computations, and the df against
## lmerTest.

sleep <- lme4::sleepstudy

check_derivatives <- function(fit, tol_jac = 1e-7, tol_grad = 1e-6, tol_hess = 1e-4) {
  dp <- dense_parts(fit)
  th <- as.numeric(fit$theta)
  parts <- lemma:::satterthwaite_parts(fit)
  J <- dense_jacobian(dp, th, fit$sigma)
  for (i in seq_along(J))
    expect_equal(unname(parts$Jac[[i]]), unname(J[[i]]), tolerance = tol_jac,
                 label = sprintf("dC/dvarpar[%d]", i))
  ## exact gradient of dev(theta, sigma) vs central differences of the dense deviance
  f <- function(v) dense_dev(dp, v[-length(v)], v[length(v)], REML = isTRUE(fit$REML))
  v0 <- c(th, fit$sigma)
  ## (away from the optimum, where the gradient is not ~0)
  v1 <- c(th * 1.3 + 0.05, fit$sigma * 0.9)
  g_exact <- lemma:::varpar_gradient(fit, v1[-length(v1)], v1[length(v1)])$grad
  g_num <- num_grad(f, v1)
  expect_equal(g_exact, g_num, tolerance = tol_grad, label = "gradient of the deviance")
  ## the Hessian (finite differences of the exact gradient) vs the dense one
  H_num <- sapply(seq_along(v0), function(j) num_grad(function(v) num_grad(f, v, 1e-4)[j], v0, 1e-4))
  expect_equal(unname(parts$hessian), unname((H_num + t(H_num)) / 2), tolerance = tol_hess,
               label = "Hessian of the deviance")
}

test_that("exact dC/dtheta and deviance gradient match dense computations (random slope)", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleep[sleep$Days %in% 0:5, ])
  check_derivatives(fit)
})

test_that("exact derivatives match dense computations (crossed, two terms, ML)", {
  d <- lme4::Penicillin
  fit <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), d, REML = FALSE)
  check_derivatives(fit)
})

test_that("exact derivatives match dense computations (relationship matrix and weights)", {
  rd <- make_relmat_data()
  fit <- lmm(y ~ x + g + (1 | id), rd$data, relmat = list(id = rd$K), weights = w)
  check_derivatives(fit)
})

test_that("Satterthwaite df agree with lmerTest on an unbalanced random-slope model", {
  skip_if_not_installed("lmerTest")
  set.seed(3)
  d <- sleep[-sample(nrow(sleep), 40), ]
  fit <- lmm(Reaction ~ Days + (Days | Subject), d)
  lt <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), d)
  a <- fixef_table(fit, "Satterthwaite")
  b <- summary(lt)$coefficients
  expect_equal(a[, "df"], b[, "df"], tolerance = 2e-3)
  expect_equal(a[, "Pr(>|t|)"], b[, "Pr(>|t|)"], tolerance = 2e-3)
  L <- rbind(c(1, 0), c(1, 7))
  expect_equal(contest(fit, L)$DenDF, lmerTest::contest(lt, L)$DenDF, tolerance = 2e-3)
  ct <- contest(fit, L, joint = FALSE)
  expect_equal(ct$df, lmerTest::contest(lt, L, joint = FALSE)$df, tolerance = 2e-3)
  expect_true(all(ct$lower < ct$Estimate & ct$Estimate < ct$upper))
})

test_that("type I, II and III tables agree with lmerTest (factor x numeric interaction)", {
  skip_if_not_installed("lmerTest")
  set.seed(9)
  d <- sleep
  d$grp <- factor(sample(c("a", "b", "c"), 18, replace = TRUE)[d$Subject])
  d$grp[d$Subject == levels(d$Subject)[1]] <- "a"
  fit <- lmm(Reaction ~ Days * grp + (1 | Subject), d)
  lt <- lmerTest::lmer(Reaction ~ Days * grp + (1 | Subject), d)
  for (type in c("III", "II", "I")) {
    a <- anova_terms(fit, type = type)
    b <- anova(lt, type = type)
    expect_equal(rownames(a), rownames(b))
    expect_equal(a$DenDF, b$DenDF, tolerance = 2e-3, label = paste("DenDF type", type))
    expect_equal(a[["F value"]], b[["F value"]], tolerance = 2e-3, label = paste("F type", type))
  }
  ## sum-to-zero coding maps the type III hypotheses
  fit2 <- lmm(Reaction ~ Days * grp + (1 | Subject), d, contrasts = list(grp = "contr.sum"))
  expect_equal(anova_terms(fit2)[["F value"]], anova(lt)[["F value"]], tolerance = 2e-3)
})

test_that("ddf = 'none' gives the plain t table", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleep)
  tab <- fixef_table(fit, "none")
  expect_identical(colnames(tab), c("Estimate", "Std. Error", "t value"))
  expect_error(fixef_table(lmm(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE), "Kenward-Roger"),
               "REML")
})
