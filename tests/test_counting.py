"""MAC counts against values derived by hand (convention: MACs of each layer as executed)."""

from pimsim.network import DynamicNet, SubnetSpec, subnet_table, subnet_totals


def test_resnet20_at_32x32_macs_by_hand():
    """resnet20 (option-B projection shortcuts), 3x32x32 input, 10 classes.

    stem 3x3, 3->16 at 32x32:                32*32*16*3*9      =    442,368
    stage 1: 6 convs 3x3 16->16 at 32x32:  6*32*32*16*16*9     = 14,155,776
    stage 2: first conv 16->32 at 16x16:     16*16*32*16*9     =  1,179,648
             5 convs 32->32 at 16x16:      5*16*16*32*32*9     = 11,796,480
             1x1 projection 16->32:          16*16*32*16       =    131,072
    stage 3: first conv 32->64 at 8x8:        8*8*64*32*9      =  1,179,648
             5 convs 64->64 at 8x8:         5*8*8*64*64*9      = 11,796,480
             1x1 projection 32->64:           8*8*64*32        =    131,072
    fc 64->10:                                                 =        640
    total                                                      = 40,813,184
    """
    model = DynamicNet("resnet20", 10, 3)
    table = subnet_table(model, "w1", (32, 32))
    assert int(table["macs"].sum()) == 40_813_184
    assert int(table.loc[table.layer == "conv1", "macs"].iloc[0]) == 442_368
    assert int(table.loc[table.layer == "fc", "macs"].iloc[0]) == 640


def test_resnet20_half_width_macs_by_hand():
    """Width 0.5: 8/16/32 channels. stem 32*32*8*3*9 = 221,184; stage 1 6*32*32*8*8*9 =
    3,538,944; stage 2 16*16*16*8*9 + 5*16*16*16*16*9 + 16*16*16*8 = 294,912 + 2,949,120 +
    32,768; stage 3 8*8*32*16*9 + 5*8*8*32*32*9 + 8*8*32*16 = 294,912 + 2,949,120 + 32,768;
    fc 32*10 = 320. Total 10,314,048."""
    model = DynamicNet("resnet20", 10, 3, [SubnetSpec.uniform(0.5)])
    assert int(subnet_table(model, "w0.5", (32, 32))["macs"].sum()) == 10_314_048


def test_resnet18_at_224x224_macs_and_params_by_hand():
    """resnet18, 3x224x224, 1000 classes.

    stem 7x7/2, 3->64 at 112x112:           112*112*64*3*49          =   118,013,952
    stage 1 (56x56): 4 convs 64->64:        4*56*56*64*64*9          =   462,422,016
    stage 2 (28x28): 128<-64 3x3 + 3 convs 128->128 + 1x1 proj:
        28*28*128*64*9 + 3*28*28*128*128*9 + 28*28*128*64            =   411,041,792
    stage 3 (14x14): 14*14*256*128*9 + 3*14*14*256*256*9 + 14*14*256*128 = 411,041,792
    stage 4 (7x7):   7*7*512*256*9 + 3*7*7*512*512*9 + 7*7*512*256  =   411,041,792
    fc 512*1000                                                      =       512,000
    total                                                            = 1,814,073,344
    Parameters: 11,689,512 (the well-known torchvision resnet18 count).
    """
    stem = 112 * 112 * 64 * 3 * 49
    stage1 = 4 * 56 * 56 * 64 * 64 * 9

    def stage(hw, c):
        return hw * hw * c * (c // 2) * 9 + 3 * hw * hw * c * c * 9 + hw * hw * c * (c // 2)
    total = stem + stage1 + stage(28, 128) + stage(14, 256) + stage(7, 512) + 512 * 1000
    model = DynamicNet("resnet18", 1000, 3)
    totals = subnet_totals(model, (224, 224))
    assert total == 1_814_073_344
    assert int(totals["macs"].iloc[0]) == total
    assert int(totals["params"].iloc[0]) == 11_689_512


def test_params_equal_the_exported_models_parameters():
    model = DynamicNet("resnet50", 10, 3, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.25)])
    for spec in model.subnets:
        table = subnet_table(model, spec, (32, 32))
        n = sum(p.numel() for p in model.export_subnet(spec).parameters())
        assert int(table["params"].sum()) == n


def test_macs_grow_with_width():
    specs = [SubnetSpec.uniform(r) for r in (0.25, 0.5, 0.75, 1.0)]
    totals = subnet_totals(DynamicNet("resnet32", 10, 3, specs), (32, 32))
    assert totals["macs"].is_monotonic_increasing and totals["params"].is_monotonic_increasing
