## Kenward-Roger: the q x q (Woodbury) computation against pbkrtest's algorithm
## written with n x n matrices, and against pbkrtest itself.

check_kr_dense <- function(fit) {
  ref <- dense_kr(fit)
  kr <- lemma:::kenward_roger_parts(fit)
  expect_equal(unname(kr$Phi), unname(ref$Phi), tolerance = 1e-8)
  expect_equal(unname(kr$PhiA), unname(ref$PhiA), tolerance = 1e-7)
  expect_equal(unname(kr$W), unname(ref$W), tolerance = 1e-7)
  for (r in seq_along(ref$P)) expect_equal(unname(kr$P[[r]]), unname(ref$P[[r]]), tolerance = 1e-7)
}

test_that("KR pieces match the dense n x n computation (random slope)", {
  d <- lme4::sleepstudy
  fit <- lmm(Reaction ~ Days + (Days | Subject), d[d$Days %in% 0:6, ])
  check_kr_dense(fit)
})

test_that("KR pieces match the dense n x n computation (crossed terms)", {
  fit <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), lme4::Penicillin)
  check_kr_dense(fit)
})

test_that("KR pieces match the dense n x n computation (relationship matrix, weights)", {
  rd <- make_relmat_data()
  fit <- lmm(y ~ x + g + (1 | id), rd$data, relmat = list(id = rd$K), weights = w)
  check_kr_dense(fit)
})

test_that("KR adjusted covariance, df and F tests agree with pbkrtest", {
  skip_if_not_installed("pbkrtest")
  skip_if_not_installed("lme4")
  set.seed(4)
  d <- lme4::sleepstudy[-sample(180, 30), ]
  d$grp <- factor(rep(c("a", "b", "c"), 6)[d$Subject])
  fit <- lmm(Reaction ~ Days + grp + (Days | Subject), d)
  fm <- lme4::lmer(Reaction ~ Days + grp + (Days | Subject), d)
  Va <- as.matrix(pbkrtest::vcovAdj(fm))
  expect_equal(unname(vcov_kr(fit)), unname(Va), tolerance = 2e-3)
  for (i in 1:4) {
    L <- matrix(0, 1, 4); L[i] <- 1
    expect_equal(fixef_table(fit, "Kenward-Roger")[i, "df"], as.numeric(pbkrtest::get_Lb_ddf(fm, L)),
                 tolerance = 2e-3)
  }
  L <- rbind(c(0, 0, 1, 0), c(0, 0, 0, 1))
  kr <- pbkrtest::KRmodcomp(fm, L)$test
  ct <- contest(fit, L, ddf = "Kenward-Roger")
  expect_equal(ct$DenDF, kr["Ftest", "ddf"], tolerance = 2e-3)
  expect_equal(ct[["F value"]], kr["Ftest", "stat"], tolerance = 2e-3)
  expect_equal(ct[["Pr(>F)"]], kr["Ftest", "p.value"], tolerance = 2e-3)
})

test_that("row-wise KR t tests and tests with a right-hand side agree with lmerTest", {
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  set.seed(8)
  d <- lme4::sleepstudy[-sample(180, 25), ]
  fit <- lmm(Reaction ~ Days + (Days | Subject), d)
  lt <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), d)
  L <- rbind(c(1, 0), c(1, 9), c(0, 1))
  a <- contest(fit, L, ddf = "Kenward-Roger", joint = FALSE)
  b <- suppressWarnings(lmerTest::contest(lt, L, ddf = "Kenward-Roger", joint = FALSE))
  for (col in c("Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"))
    expect_equal(a[[col]], b[[col]], tolerance = 2e-3, label = col)
  a <- contest(fit, c(0, 1), rhs = 10)
  b <- lmerTest::contest(lt, c(0, 1), rhs = 10)
  expect_equal(a[["F value"]], b[["F value"]], tolerance = 2e-3)
  expect_equal(a$DenDF, b$DenDF, tolerance = 2e-3)
})
