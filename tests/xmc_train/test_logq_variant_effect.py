"""A ``logq`` variant is refused for samplers whose batches carry no sampling log-probabilities (it would train the
same run again under another name), and accepted for those that draw at random. Does not prove: what the
correction does to accuracy (the study's logq variant row measures it)."""
import pytest

from workbench.xmc_train.study import NegativeMiningConfig
from workbench.xmc_train.variants import check_effect, parse_variants


@pytest.mark.parametrize("sampler", ["full", "in_batch", "ance", "ngame", "unidec"])
def test_logq_variant_refused_without_log_q(sampler):
    cfg = NegativeMiningConfig(samplers=[sampler])
    with pytest.raises(ValueError, match="logq does nothing"):
        check_effect(cfg, parse_variants([f"{sampler}:logq:true"], NegativeMiningConfig)[0])


@pytest.mark.parametrize("sampler", ["uniform", "log_uniform", "lsh"])
def test_logq_variant_accepted_where_batches_carry_log_q(sampler):
    cfg = NegativeMiningConfig(samplers=[sampler], loss="softmax")
    check_effect(cfg, parse_variants([f"{sampler}:logq:true"], NegativeMiningConfig)[0])
